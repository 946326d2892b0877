"""The PyTorch peer of `lstm-native serve`: the IMDB anchor model (the same Net as torch_imdb_infer.py, random weights:
only the time matters) behind FastAPI on uvicorn, one worker, the usual Python deployment. Same route and body as
TensorFlow Serving's REST API: POST /v1/models/imdb:predict {"instances": [[ids...], ...]} -> {"predictions": [[p], ...]}.
Each instance is padded or cut at the start to 200 ids, as the model was trained.
    python torch_imdb_serve.py PORT [THREADS=2]"""
import sys
import torch
from imdb_net import Net
import uvicorn
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

port = int(sys.argv[1])
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
torch.manual_seed(0); torch.set_num_threads(threads)
MAXLEN = 200

net = Net().eval()
app = FastAPI()

class Body(BaseModel):
    instances: list[list[int]]

def pad(ids):
    ids = ids[-MAXLEN:]
    return [0] * (MAXLEN - len(ids)) + ids

@app.post("/v1/models/imdb:predict")
def predict(body: Body):
    if not body.instances or any(i < 0 or i >= 1000 for inst in body.instances for i in inst):
        raise HTTPException(status_code=400, detail="token id out of range")
    with torch.no_grad():
        p = torch.sigmoid(net(torch.tensor([pad(i) for i in body.instances])))
    return {"predictions": [[float(v)] for v in p]}

@app.get("/healthz")
def healthz():
    return {"status": "ok"}

uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False)
