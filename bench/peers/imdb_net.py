"""The IMDB anchor model in PyTorch (as shared/anchors/torch_imdb.py): Embedding(1000, 50), Dropout(0.2), LSTM(100),
Linear(250) + ReLU, Dropout(0.2), Linear(1); the logit out. Shared by the inference and serving peers."""
import torch, torch.nn as nn

class Net(nn.Module):
    def __init__(s):
        super().__init__()
        s.emb = nn.Embedding(1000, 50); s.d1 = nn.Dropout(0.2)
        s.lstm = nn.LSTM(50, 100, batch_first=True)
        s.fc1 = nn.Linear(100, 250); s.d2 = nn.Dropout(0.2); s.fc2 = nn.Linear(250, 1)
    def forward(s, x):
        h = s.d1(s.emb(x)); _, (hn, _) = s.lstm(h)
        return s.fc2(s.d2(torch.relu(s.fc1(hn[-1])))).squeeze(1)
