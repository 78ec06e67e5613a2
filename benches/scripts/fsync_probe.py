# fdatasync latency of small appends: growing file vs fallocated vs zero-filled (run from a dir on the disk under test).
import os, time
N=2000; rec=b'x'*200
def run(name, setup):
    p=f'./fsync-probe-{name}'
    if os.path.exists(p): os.remove(p)
    fd=os.open(p, os.O_RDWR|os.O_CREAT)
    setup(fd); os.fsync(fd)
    lat=[]; off=0
    for i in range(N):
        t=time.perf_counter()
        os.pwrite(fd, rec, off); off+=len(rec); os.fdatasync(fd)
        lat.append((time.perf_counter()-t)*1e6)
    os.close(fd); lat.sort()
    print(f'{name:10} mean {sum(lat)/N:6.0f} p50 {lat[N//2]:6.0f} p99 {lat[int(N*.99)]:6.0f} max {lat[-1]:6.0f}')
for _ in range(2):
    run('append', lambda fd: None)
    run('fallocate', lambda fd: os.posix_fallocate(fd, 0, 1<<20))
    run('zeros', lambda fd: os.write(fd, b'\0'*(1<<20)))
