"""PyTorch CPU peers of `lstm-native train imdb --cell gru` and `--conv 64,5,4`, on the NPZ of the other peers:
  gru: Embedding(1000,50) Dropout(.2) GRU(100) Linear(250)+relu Dropout(.2) Linear(1)
  cnn: Embedding(1000,50) Dropout(.2) Conv1d(64,5)+relu MaxPool1d(4) LSTM(100) Linear(250)+relu Dropout(.2) Linear(1)
the tutorial's model as ../shared/anchors/torch_imdb.py writes it (nn.GRU and nn.LSTM have no recurrent dropout: PyTorch's
fastest fused path, as a PyTorch user would write it), with the recurrent layer swapped or a convolution block before
it. Adam 1e-3, BCE on logits, batch 64.
    python torch_imdb_rnn.py NPZ EPOCHS THREADS gru|cnn [SEED=0]
Prints one line per epoch: "torch MODEL seed S epoch E train_s T loss L test_acc A infer_reviews_per_s R"."""
import sys, time
import numpy as np, torch, torch.nn as nn

if len(sys.argv) < 5 or sys.argv[4] not in ("gru", "cnn"):
    sys.exit(__doc__)
npz, epochs, kind = sys.argv[1], int(sys.argv[2]), sys.argv[4]
seed = int(sys.argv[5]) if len(sys.argv) > 5 else 0
torch.manual_seed(seed); np.random.seed(seed)
torch.set_num_threads(int(sys.argv[3]))
d = np.load(npz)
xtr, ytr = torch.from_numpy(d["x_train"]), torch.from_numpy(d["y_train"])
xte, yte = torch.from_numpy(d["x_test"]), torch.from_numpy(d["y_test"])

class Net(nn.Module):
    def __init__(s):
        super().__init__()
        s.emb = nn.Embedding(1000, 50); s.d1 = nn.Dropout(0.2)
        if kind == "gru":
            s.conv = None; s.rnn = nn.GRU(50, 100, batch_first=True)
        else:
            s.conv = nn.Conv1d(50, 64, 5); s.pool = nn.MaxPool1d(4); s.rnn = nn.LSTM(64, 100, batch_first=True)
        s.fc1 = nn.Linear(100, 250); s.d2 = nn.Dropout(0.2); s.fc2 = nn.Linear(250, 1)
    def forward(s, x):
        h = s.d1(s.emb(x))
        if s.conv is not None:
            # Conv1d and MaxPool1d read [B, C, T]; the LSTM reads [B, T, C].
            h = s.pool(torch.relu(s.conv(h.transpose(1, 2)))).transpose(1, 2)
        _, hn = s.rnn(h)
        hn = hn[0] if isinstance(hn, tuple) else hn
        return s.fc2(s.d2(torch.relu(s.fc1(hn[-1])))).squeeze(1)

net = Net(); opt = torch.optim.Adam(net.parameters(), 1e-3); lossf = nn.BCEWithLogitsLoss()
def evaluate():
    net.eval(); t = time.perf_counter()
    with torch.no_grad():
        logits = torch.cat([net(xte[i:i + 500]) for i in range(0, len(xte), 500)])
    dt = time.perf_counter() - t
    return ((logits > 0).float() == yte).float().mean().item(), len(xte) / dt
for ep in range(epochs):
    net.train(); perm = torch.randperm(len(xtr)); t = time.perf_counter(); tot = 0.0
    for i in range(0, len(xtr), 64):
        idx = perm[i:i + 64]; opt.zero_grad(); loss = lossf(net(xtr[idx]), ytr[idx]); loss.backward(); opt.step(); tot += loss.item() * len(idx)
    dt = time.perf_counter() - t; acc, ips = evaluate()
    print(f"torch {kind} seed {seed} epoch {ep+1} train_s {dt:.1f} loss {tot/len(xtr):.4f} test_acc {acc:.4f} infer_reviews_per_s {ips:.0f}", flush=True)
