"""PyTorch ms per training step of the next-word model, the counterpart of shared/anchors/tf_words_probe.py: the Net of
shared/anchors/torch_words.py (3 raw-float word indices -> 2-layer LSTM(512) -> dense N(0,1) over V=86 words),
RMSProp 1e-3 (alpha .9, eps 1e-10), batch 1, one fixed sample; 5 warm-up steps, then 3 timed runs of N steps.
(torch_words.py itself needs >= 1,000 steps: below that its final print fails on an unset variable.)
    python torch_words_probe.py [N=100] [THREADS=2]
Prints "torch words X ms/step" three times."""
import sys, time
import torch, torch.nn as nn
from words_net import Net

n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
torch.manual_seed(0)

net = Net(); opt = torch.optim.RMSprop(net.parameters(), lr=1e-3, alpha=0.9, eps=1e-10); lossf = nn.CrossEntropyLoss()
x = torch.tensor([3.0, 40.0, 85.0]).view(1, 3, 1); y = torch.tensor([5])
def step():
    opt.zero_grad(); logits = net(x); loss = lossf(logits, y); loss.backward(); opt.step()
    return int(logits.argmax(1).item() == y.item())  # the anchor reads the prediction back every step too
for _ in range(5): step()
for r in range(3):
    t = time.perf_counter()
    for _ in range(n): step()
    print(f"torch words {(time.perf_counter() - t) / n * 1000:.2f} ms/step", flush=True)
