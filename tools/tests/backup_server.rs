//! `kvd-admin backup <server address>`: a backup of a running kvd through its Checkpoint RPC,
//! restored and compared with what the server served at the backup's sequence number.

mod common;

use kvd::Db;
use kvd_tools::admin::backup::backup_server;
use kvd_tools::admin::restore::{restore, RestoreOptions};
use kvd_tools::admin::store::BackupStore;
use kvd_tools::progress::Progress;
use kvd_tools::std_fs;

#[test]
fn backup_of_a_running_server_restores_its_data() {
    let tmp = tempfile::tempdir().unwrap();
    let server = common::TestServer::start(&tmp.path().join("data"));
    let addr = format!("http://{}", server.addr);
    let client = server.client();
    server.runtime.block_on(async {
        for i in 0..500u32 {
            client.put(format!("key{i:04}").into_bytes(), format!("value{i}").into_bytes()).await.unwrap();
        }
    });

    let store = BackupStore::create(std_fs(), &tmp.path().join("backups")).unwrap();
    let report = backup_server(&addr, &store, &Progress::hidden()).unwrap();
    assert!(report.seqno >= 500, "{report:?}");
    assert!(report.tables >= 1);

    let restored = tmp.path().join("restored");
    restore(&store, &restored, RestoreOptions::default(), &Progress::hidden()).unwrap();
    server.stop();

    let db = Db::open(&restored, kvd::Options::default()).unwrap();
    let rows: Vec<_> = db.scan(None, None).map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 500);
    assert_eq!(rows[7], (b"key0007".to_vec(), b"value7".to_vec()));
    assert_eq!(db.latest_seqno(), report.seqno);
}
