"""Golden cases for a Sequential LSTM stack, computed by PyTorch in float64, stored as float32 safetensors.

A copy of ../shared/anchors/gen_golden.py (which wrote the first seven cases here, byte for byte the same when rerun)
that adds the global pooling layers and their cases:
  bench/.venv/bin/python crates/lstm-core/tests/golden/gen_golden.py crates/lstm-core/tests/golden

One file per case. `__metadata__["case"]` holds JSON: {"layers": [...], "loss": {...}, "optimizer": {...}|null}.
Tensors:
  input                       int32 [B,T] (embedding first) or float32 [B,T,I]
  target                      int32 [B] (sparse CE) | float32 [B,1] (binary CE) | float32 like output (mse)
  param.L.NAME                initial parameters, PyTorch names and layouts (see README)
  expected.output             model output in inference mode (dropout off)
  expected.loss               scalar [1], mean over the batch (mse: mean over all elements)
  expected.grad.L.NAME        d loss / d param
  expected.grad.input         d loss / d input (float inputs only)
  expected.param_after.L.NAME parameters after one optimizer step (only when "optimizer" is set)
  expected.param_after_3.L.NAME  parameters after three steps on the same batch (the `optim3_*` cases), by torch.optim
  expected.losses_3           float32 [3], the loss before each of those three steps
"""
import json, sys, os
import torch, torch.nn as nn, torch.nn.functional as F
from safetensors.torch import save_file

def build(layers, in_dim):
    mods, dim = [], in_dim
    for spec in layers:
        t = spec["type"]
        if t == "embedding":
            m = nn.Embedding(spec["inputDim"], spec["outputDim"]); dim = spec["outputDim"]
        elif t == "lstm":
            m = nn.LSTM(dim, spec["units"], batch_first=True, bidirectional=spec.get("bidirectional", False))
            dim = spec["units"] * (2 if spec.get("bidirectional") else 1)
        elif t == "dense":
            m = nn.Linear(dim, spec["units"]); dim = spec["units"]
        elif t in ("globalAveragePooling1d", "globalMaxPooling1d"):
            m = None  # no parameters; the feature size stays
        else:
            raise ValueError(t)
        mods.append(m)
    return mods

def act(x, a):
    return {"linear": lambda v: v, "relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
            "softmax": lambda v: torch.softmax(v, -1)}[a](x)

def run_lstm(m, spec, x, mask):
    """x [B,T,D]; mask [B,T] bool (True = real token) or None. Keras mask_zero semantics: masked steps keep state and,
    with returnSequences, output the previous output (zeros before the first real step)."""
    bi = spec.get("bidirectional", False)
    if mask is None:
        out, (h, c) = m(x)
        if spec.get("returnSequences"):
            return out
        return torch.cat([h[0], h[1]], -1) if bi else h[-1]
    assert not bi
    B, T, _ = x.shape; H = spec["units"]
    outs, lasts = [], []
    for b in range(B):
        idx = mask[b].nonzero().flatten()
        seq = torch.zeros(T, H, dtype=x.dtype); last = torch.zeros(H, dtype=x.dtype)
        if len(idx):
            o, (h, _) = m(x[b:b + 1, idx]); last = h[-1, 0]
            prev = torch.zeros(H, dtype=x.dtype); k = 0
            for t in range(T):
                if mask[b, t]:
                    prev = o[0, k]; k += 1
                seq[t] = prev
        outs.append(seq); lasts.append(last)
    return torch.stack(outs) if spec.get("returnSequences") else torch.stack(lasts)

def forward(mods, layers, x):
    mask = None
    for m, spec in zip(mods, layers):
        t = spec["type"]
        if t == "embedding":
            if spec.get("maskZero"):
                mask = x != 0
            x = m(x)
        elif t == "lstm":
            x = run_lstm(m, spec, x, mask)
            if not spec.get("returnSequences"):
                mask = None
        elif t == "globalAveragePooling1d":
            # Keras: the mean over the steps the mask keeps.
            w = torch.ones(x.shape[:2], dtype=x.dtype) if mask is None else mask.to(x.dtype)
            x = (x * w.unsqueeze(-1)).sum(1) / w.sum(1, keepdim=True)
            mask = None
        elif t == "globalMaxPooling1d":
            # Keras: the maximum over every step; the mask is ignored.
            x = x.max(1).values
            mask = None
        else:
            x = act(m(x), spec.get("activation", "linear"))
    return x

def loss_of(out, target, loss):
    t = loss["type"]
    if t == "binary_crossentropy":
        p = out.clamp(1e-12, 1 - 1e-12)
        return -(target * p.log() + (1 - target) * (1 - p).log()).mean()
    if t == "sparse_categorical_crossentropy":
        logp = F.log_softmax(out, -1) if loss.get("fromLogits") else out.clamp_min(1e-12).log()
        return F.nll_loss(logp, target.long())
    if t == "mse":
        return ((out - target) ** 2).mean()
    raise ValueError(t)

def names(mods, layers):
    for i, (m, spec) in enumerate(zip(mods, layers)):
        if m is None:
            continue
        for n, p in m.named_parameters():
            n = n.replace("_l0", "")  # weight_ih_l0 -> weight_ih, weight_ih_l0_reverse -> weight_ih_reverse
            yield f"param.{i}.{n}", f"{i}.{n}", p

def opt_step(params, grads, o):
    out = {}
    for k, p in params.items():
        g = grads[k]
        if o["type"] == "sgd":
            out[k] = p - o["learningRate"] * g
        elif o["type"] == "rmsprop":
            v = (1 - o["rho"]) * g * g
            out[k] = p - o["learningRate"] * g / (v.sqrt() + o["epsilon"])
        elif o["type"] == "adam":
            b1, b2 = o["beta1"], o["beta2"]
            m = (1 - b1) * g; v = (1 - b2) * g * g
            mh = m / (1 - b1); vh = v / (1 - b2)
            out[k] = p - o["learningRate"] * mh / (vh.sqrt() + o["epsilon"])
    return out

def clip_(params, o):
    """Keras's per-tensor clipping, in place on each .grad: clipvalue clamps, then clipnorm rescales to norm ≤ c."""
    for p in params:
        if o.get("clipvalue") is not None:
            p.grad.clamp_(-o["clipvalue"], o["clipvalue"])
        if o.get("clipnorm") is not None:
            norm = p.grad.norm()
            if norm > o["clipnorm"]:
                p.grad.mul_(o["clipnorm"] / norm)

def torch_optimizer(params, o):
    """torch.optim with the case's options. Keras's momentum forms (SGD's velocity, RMSProp's momentum on lr·g/(√v+ε))
    equal PyTorch's for a constant learning rate."""
    if o["type"] == "sgd":
        return torch.optim.SGD(params, lr=o["learningRate"], momentum=o.get("momentum", 0.0), nesterov=o.get("nesterov", False))
    if o["type"] == "rmsprop":
        return torch.optim.RMSprop(params, lr=o["learningRate"], alpha=o["rho"], eps=o["epsilon"], momentum=o.get("momentum", 0.0))
    if o["type"] == "adam":
        return torch.optim.Adam(params, lr=o["learningRate"], betas=(o["beta1"], o["beta2"]), eps=o["epsilon"])
    raise ValueError(o["type"])

def three_steps(mods, layers, xin, target, loss, o, L0):
    """Three optimizer steps on the same batch from fresh state (the first from the gradients already computed):
    the parameters after the first and after the third, and the loss before each step."""
    ps = [p for _, _, p in names(mods, layers)]
    opt = torch_optimizer(ps, o)
    losses, after1 = [L0.detach().item()], None
    for step in range(3):
        if step > 0:
            opt.zero_grad()
            L = loss_of(forward(mods, layers, xin), target, loss)
            L.backward()
            losses.append(L.detach().item())
        clip_(ps, o)
        opt.step()
        if step == 0:
            after1 = {short: p.detach().clone() for _, short, p in names(mods, layers)}
    after3 = {short: p.detach().clone() for _, short, p in names(mods, layers)}
    return after1, after3, torch.tensor(losses, dtype=torch.float64)

def make(path, seed, layers, loss, B, T, I=None, optimizer=None, pad=False, steps=1):
    torch.manual_seed(seed)
    in_dim = I if I else None
    mods = build(layers, in_dim)
    for m in mods:
        if m is None:
            continue
        for p in m.parameters():
            nn.init.uniform_(p, -0.5, 0.5)
        m.double()
    if layers[0]["type"] == "embedding":
        V = layers[0]["inputDim"]
        x = torch.randint(1 if layers[0].get("maskZero") else 0, V, (B, T))
        if pad:
            for b in range(B):
                x[b, : (b * T) // B] = 0   # 'pre' padding of varying length; row 0 unpadded
        xin = x
    else:
        x = torch.randn(B, T, I, dtype=torch.float64).requires_grad_(True); xin = x
    out = forward(mods, layers, xin)
    t = loss["type"]
    if t == "binary_crossentropy":
        target = torch.randint(0, 2, (B, 1)).double()
    elif t == "sparse_categorical_crossentropy":
        target = torch.randint(0, out.shape[-1], (B,))
    else:
        target = torch.randn_like(out)
    L = loss_of(out, target, loss)
    L.backward()
    ts = {}
    ts["input"] = x.detach().int() if x.dtype == torch.int64 else x.detach().float()
    ts["target"] = target.int() if t == "sparse_categorical_crossentropy" else target.float()
    params, grads = {}, {}
    for key, short, p in names(mods, layers):
        ts[key] = p.detach().float(); ts["expected.grad." + short] = p.grad.detach().float()
        params[short] = p.detach(); grads[short] = p.grad.detach()
    ts["expected.output"] = out.detach().float()
    ts["expected.loss"] = L.detach().float().reshape(1)
    if x.dtype != torch.int64:
        ts["expected.grad.input"] = x.grad.detach().float()
    if optimizer and steps == 3:
        after1, after3, losses = three_steps(mods, layers, xin, target, loss, optimizer, L)
        for k in params:
            ts["expected.param_after." + k] = after1[k].float()
            ts["expected.param_after_3." + k] = after3[k].float()
        ts["expected.losses_3"] = losses.float()
    elif optimizer:
        for k, v in opt_step(params, grads, optimizer).items():
            ts["expected.param_after." + k] = v.float()
    ts = {k: v.contiguous() for k, v in ts.items()}
    save_file(ts, path, metadata={"case": json.dumps({"layers": layers, "loss": loss, "optimizer": optimizer})})

def cases(public):
    s = 0 if public else 1000
    E = lambda V, D, **k: dict(type="embedding", inputDim=V, outputDim=D, **k)
    L = lambda H, **k: dict(type="lstm", units=H, **k)
    D = lambda U, a="linear": dict(type="dense", units=U, activation=a)
    BCE = {"type": "binary_crossentropy"}; SCE = {"type": "sparse_categorical_crossentropy", "fromLogits": True}
    MSE = {"type": "mse"}
    adam = {"type": "adam", "learningRate": 0.01, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7}
    rms = {"type": "rmsprop", "learningRate": 0.01, "rho": 0.9, "epsilon": 1e-7}
    sgd = {"type": "sgd", "learningRate": 0.1}
    if public:
        yield "lstm_last_mse", dict(layers=[L(6)], loss=MSE, B=3, T=5, I=4)
        yield "lstm_seq_dense_mse", dict(layers=[L(5, returnSequences=True), D(3)], loss=MSE, B=2, T=4, I=3)
        yield "stacked_words_sce", dict(layers=[L(8, returnSequences=True), L(8), D(11)], loss=SCE, B=4, T=3, I=1, optimizer=rms)
        yield "imdb_like_bce", dict(layers=[E(30, 6), L(7), D(9, "relu"), D(1, "sigmoid")], loss=BCE, B=5, T=12, optimizer=adam)
        yield "bidirectional_sce", dict(layers=[E(25, 5), L(4, bidirectional=True), D(6)], loss=SCE, B=3, T=7, optimizer=sgd)
        yield "mask_zero_bce", dict(layers=[E(20, 4, maskZero=True), L(5), D(1, "sigmoid")], loss=BCE, B=4, T=8, pad=True)
        yield "softmax_probs_sce", dict(layers=[L(6), D(5, "softmax")], loss={"type": "sparse_categorical_crossentropy", "fromLogits": False}, B=3, T=4, I=2)

def pooling_cases():
    E = lambda V, D, **k: dict(type="embedding", inputDim=V, outputDim=D, **k)
    L = lambda H, **k: dict(type="lstm", units=H, **k)
    D = lambda U, a="linear": dict(type="dense", units=U, activation=a)
    AVG = {"type": "globalAveragePooling1d"}; MAX = {"type": "globalMaxPooling1d"}
    BCE = {"type": "binary_crossentropy"}; SCE = {"type": "sparse_categorical_crossentropy", "fromLogits": True}
    adam = {"type": "adam", "learningRate": 0.01, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7}
    rms = {"type": "rmsprop", "learningRate": 0.01, "rho": 0.9, "epsilon": 1e-7}
    yield "pooling_average_mse", dict(layers=[L(6, returnSequences=True), AVG, D(3)], loss={"type": "mse"}, B=3, T=5, I=4)
    yield "pooling_average_masked_bce", dict(layers=[E(20, 4, maskZero=True), L(5, returnSequences=True), AVG, D(1, "sigmoid")], loss=BCE, B=4, T=8, pad=True, optimizer=adam)
    yield "pooling_max_masked_bce", dict(layers=[E(20, 4, maskZero=True), L(5, returnSequences=True), MAX, D(1, "sigmoid")], loss=BCE, B=4, T=8, pad=True)
    yield "pooling_max_bidirectional_sce", dict(layers=[E(25, 5), L(4, bidirectional=True, returnSequences=True), MAX, D(6)], loss=SCE, B=3, T=7, optimizer=rms)

def optimizer_cases():
    """Three steps of each optimizer form beyond plain one-step updates: Adam's bias correction at t > 1, SGD's
    momentum and Nesterov velocities, RMSProp's momentum, and per-tensor clipnorm and clipvalue."""
    E = lambda V, D, **k: dict(type="embedding", inputDim=V, outputDim=D, **k)
    L = lambda H, **k: dict(type="lstm", units=H, **k)
    D = lambda U, a="linear": dict(type="dense", units=U, activation=a)
    BCE = {"type": "binary_crossentropy"}; SCE = {"type": "sparse_categorical_crossentropy", "fromLogits": True}
    MSE = {"type": "mse"}
    adam = {"type": "adam", "learningRate": 0.01, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7}
    rms = {"type": "rmsprop", "learningRate": 0.01, "rho": 0.9, "epsilon": 1e-7}
    yield "optim3_adam_mse", dict(layers=[L(6, returnSequences=True), D(3)], loss=MSE, B=3, T=5, I=4, optimizer=adam)
    yield "optim3_sgd_momentum_bce", dict(layers=[E(20, 4), L(5), D(1, "sigmoid")], loss=BCE, B=4, T=6,
                                          optimizer={"type": "sgd", "learningRate": 0.1, "momentum": 0.9})
    yield "optim3_sgd_nesterov_sce", dict(layers=[E(25, 5), L(4, bidirectional=True), D(6)], loss=SCE, B=3, T=7,
                                          optimizer={"type": "sgd", "learningRate": 0.1, "momentum": 0.9, "nesterov": True})
    yield "optim3_rmsprop_momentum_sce", dict(layers=[L(8, returnSequences=True), L(8), D(11)], loss=SCE, B=4, T=3, I=1,
                                              optimizer=dict(rms, momentum=0.9))
    yield "optim3_adam_clipnorm_mse", dict(layers=[L(6), D(2)], loss=MSE, B=3, T=4, I=3, optimizer=dict(adam, clipnorm=0.05))
    yield "optim3_sgd_clipvalue_bce", dict(layers=[E(30, 6), L(7), D(9, "relu"), D(1, "sigmoid")], loss=BCE, B=5, T=8,
                                           optimizer={"type": "sgd", "learningRate": 0.1, "momentum": 0.5, "clipvalue": 0.01})
    yield "optim3_rmsprop_clipnorm_mse", dict(layers=[L(5, returnSequences=True), D(2, "tanh")], loss=MSE, B=2, T=4, I=3,
                                              optimizer=dict(rms, clipnorm=0.1))

if __name__ == "__main__":
    out = sys.argv[1]; public = True; os.makedirs(out, exist_ok=True)
    for i, (name, kw) in enumerate(cases(public)):
        make(os.path.join(out, name + ".safetensors"), (0 if public else 1000) + i, **kw)
        print("wrote", name)
    for i, (name, kw) in enumerate(pooling_cases()):
        make(os.path.join(out, name + ".safetensors"), 100 + i, **kw)
        print("wrote", name)
    for i, (name, kw) in enumerate(optimizer_cases()):
        make(os.path.join(out, name + ".safetensors"), 200 + i, steps=3, **kw)
        print("wrote", name)
