# jwks_drive.py BASE TOKEN PID SECONDS CONC: closed-loop GET /keys/jwks?client_id=bench-client with a
# bearer token (aiohttp), 2 s warm-up; prints the rate and the depot's CPU per request (from /proc/PID/stat).
import asyncio, sys, time, aiohttp
base, token, pid, secs, conc = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / 100.0
async def worker(session, stop, counts):
    while time.time() < stop:
        async with session.get(base + "/keys/jwks?client_id=bench-client", headers={"authorization": "Bearer " + token}) as r:
            await r.read()
            assert r.status == 200, r.status
        counts[0] += 1
async def main():
    async with aiohttp.ClientSession() as s:
        warm = [0]
        await asyncio.gather(*[worker(s, time.time() + 2, warm) for _ in range(conc)])
        counts = [0]; c0 = cpu(); t0 = time.time()
        await asyncio.gather(*[worker(s, t0 + secs, counts) for _ in range(conc)])
        dt = time.time() - t0; c1 = cpu()
        print(f"{counts[0]/dt:.0f} req/s, server CPU {(c1-c0)/counts[0]*1e6:.0f} us/request ({(c1-c0)/dt*100:.0f}% of a core)")
asyncio.run(main())
