"""PyTorch inference throughput of the IMDB anchor model (the same Net as shared/anchors/torch_imdb.py, random weights:
only the time matters): every test review of the NPZ at batch 500 under torch.no_grad(), after one warm-up batch.
    python torch_imdb_infer.py NPZ [THREADS=2] [BATCH=500]
Last line: BENCH_RESULT {"reviewsPerSecond": ...}"""
import json, sys, time
import numpy as np, torch
from imdb_net import Net

threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 500
torch.manual_seed(0); torch.set_num_threads(threads)
t = time.perf_counter(); xte = torch.from_numpy(np.load(sys.argv[1])["x_test"]); load_s = time.perf_counter() - t

net = Net().eval()
with torch.no_grad():
    net(xte[:batch])
    t = time.perf_counter()
    out = torch.cat([torch.sigmoid(net(xte[i:i + batch])) for i in range(0, len(xte), batch)])
    dt = time.perf_counter() - t
assert len(out) == len(xte)
print(f"torch infer: {len(xte)} reviews in {dt:.2f} s at batch {batch}, {threads} threads: {len(xte)/dt:.0f} reviews/s")
print("BENCH_RESULT " + json.dumps({"reviews": len(xte), "seconds": dt, "reviewsPerSecond": len(xte) / dt, "batchSize": batch,
                                    "threads": threads, "loadSeconds": load_s, "torch": torch.__version__}), flush=True)
