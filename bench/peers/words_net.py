"""The next-word model of shared/anchors/torch_words.py, for torch_words_probe.py and torch_words_step.py: a 2-layer
nn.LSTM(1, 512) over one raw-float word index per step, and a dense 512 x V output layer initialised N(0, 1)."""
import torch, torch.nn as nn

V = 86

class Net(nn.Module):
    def __init__(s):
        super().__init__(); s.lstm = nn.LSTM(1, 512, num_layers=2, batch_first=True)
        s.w = nn.Parameter(torch.randn(512, V)); s.b = nn.Parameter(torch.randn(V))
    def step(s, x, state=None):
        """The logits after the last step of x, and the LSTM's (h, c) states from the given ones (None: zeros)."""
        o, state = s.lstm(x, state); return o[:, -1] @ s.w + s.b, state
    def forward(s, x):
        return s.step(x)[0]
