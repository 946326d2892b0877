"""Keras peer for time series: LSTM(32) -> Dense(1) on windows of WINDOW steps of COLUMN (gaps interpolated), 70/15/15
chronological split, standardised on the training span, 20 epochs, Adam; predicting levels and predicting the change from
the last value. Prints (test MAE, last-value baseline MAE) per seed, and one JSON line per run with the time `fit` took.
Needs numpy, pandas, keras.
Usage: keras_series.py CSV COLUMN WINDOW [SEEDS [MODES]]
  SEEDS: comma-separated (default 0,1); MODES: levels,diff (default both).
This is ../shared/anchors/keras_series.py (the anchor the issue quotes) with the seeds and modes as arguments, the fit
timed and a JSON line added; the model, data handling and metric are unchanged."""
import os; os.environ["TF_CPP_MIN_LOG_LEVEL"]="3"
import json, time
import numpy as np, pandas as pd, keras, sys
df = pd.read_csv(sys.argv[1]); col = sys.argv[2]; W = int(sys.argv[3])
seeds = [int(s) for s in sys.argv[4].split(",")] if len(sys.argv) > 4 else [0, 1]
modes = sys.argv[5].split(",") if len(sys.argv) > 5 else ["levels", "diff"]
y = df[col].astype(float).interpolate().bfill().values.astype("float32")
n = len(y); tr, va = int(n*.7), int(n*.85)
def run(diff, seed):
    keras.utils.set_random_seed(seed)
    s = np.diff(y, prepend=y[0]) if diff else y
    mu, sd = s[:tr].mean(), s[:tr].std()
    z = (s - mu) / sd
    X = np.stack([z[i-W:i] for i in range(W, n)])[..., None]; T = np.arange(W, n)
    tgt = z[W:]
    itr = T < tr; iva = (T >= tr) & (T < va); ite = T >= va
    m = keras.Sequential([keras.Input((W, 1)), keras.layers.LSTM(32), keras.layers.Dense(1)])
    m.compile("adam", "mse")
    t0 = time.perf_counter()
    m.fit(X[itr], tgt[itr], epochs=20, batch_size=32, verbose=0, validation_data=(X[iva], tgt[iva]))
    fit_s = time.perf_counter() - t0
    p = m.predict(X[ite], verbose=0)[:, 0] * sd + mu
    pred = (y[T[ite]-1] + p) if diff else p
    mae = np.abs(pred - y[T[ite]]).mean(); base = np.abs(y[T[ite]-1] - y[T[ite]]).mean()
    rmse = float(np.sqrt(((pred - y[T[ite]]) ** 2).mean()))
    print(json.dumps(dict(engine="keras", csv=sys.argv[1], column=col, window=W, mode="diff" if diff else "levels", seed=seed,
                          mae=float(mae), rmse=rmse, baseline_mae=float(base), fit_seconds=fit_s)), flush=True)
    return mae, base
for diff in (False, True):
    if ("diff" if diff else "levels") in modes:
        print("diff" if diff else "levels", [tuple(round(float(v), 3) for v in run(diff, s)) for s in seeds])
