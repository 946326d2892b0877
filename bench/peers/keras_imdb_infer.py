"""Keras (TensorFlow CPU) inference throughput of the IMDB anchor model (the same model as shared/anchors/keras_imdb.py,
random weights: only the time matters): model.predict on every test review of the NPZ at batch 500, after one
warm-up predict (which traces the predict function).
    python keras_imdb_infer.py NPZ [THREADS=2] [BATCH=500]
Last line: BENCH_RESULT {"reviewsPerSecond": ...}"""
import json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np, tensorflow as tf, keras
from keras.models import Sequential
from keras.layers import Dense, Dropout, Embedding, LSTM, Input

threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 500
tf.config.threading.set_intra_op_parallelism_threads(threads); tf.config.threading.set_inter_op_parallelism_threads(threads)
keras.utils.set_random_seed(0)
t = time.perf_counter(); xte = np.load(sys.argv[1])["x_test"]; load_s = time.perf_counter() - t
rd = float(os.environ.get("RECURRENT_DROPOUT", "0.2"))
model = Sequential([Input((200,)), Embedding(1000, 50), Dropout(0.2), LSTM(100, dropout=0.2, recurrent_dropout=rd),
                    Dense(250, activation="relu"), Dropout(0.2), Dense(1, activation="sigmoid")])
model.predict(xte[:batch], batch_size=batch, verbose=0)
t = time.perf_counter(); p = model.predict(xte, batch_size=batch, verbose=0); dt = time.perf_counter() - t
assert len(p) == len(xte)
print(f"keras infer: {len(xte)} reviews in {dt:.2f} s at batch {batch}, {threads} threads: {len(xte)/dt:.0f} reviews/s")
print("BENCH_RESULT " + json.dumps({"reviews": len(xte), "seconds": dt, "reviewsPerSecond": len(xte) / dt, "batchSize": batch,
                                    "threads": threads, "loadSeconds": load_s, "tensorflow": tf.__version__, "keras": keras.__version__}), flush=True)
