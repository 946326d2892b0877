"""Keras (TensorFlow CPU) peers of `lstm-native train imdb --cell gru` and `--conv 64,5,4`, on the NPZ of the other
peers (prep_imdb.py: 'pre' padding and cutting to 200 tokens):
  gru: Embedding(1000,50) Dropout(.2) GRU(100, dropout .2, recurrent_dropout .2) Dense(250,relu) Dropout(.2) Dense(1,sigmoid)
  cnn: Embedding(1000,50) Dropout(.2) Conv1D(64,5,relu) MaxPooling1D(4) LSTM(100, dropout .2, recurrent_dropout .2)
       Dense(250,relu) Dropout(.2) Dense(1,sigmoid)
i.e. the tutorial's model (../shared/anchors/keras_imdb.py) with the recurrent layer swapped, or a convolution block
before it, exactly as lstm-native's CLI builds them. Adam 1e-3, binary cross-entropy, batch 64.
    python keras_imdb_rnn.py NPZ EPOCHS THREADS gru|cnn [SEED=0] [every|last]
Prints one line per epoch: "keras MODEL seed S epoch E train_s T loss L test_acc A infer_reviews_per_s R" (the format
bench/run.mjs parses); with `last` the test set is predicted only after the last epoch (earlier lines say test_acc -)."""
import os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np, tensorflow as tf, keras
from keras.models import Sequential
from keras.layers import GRU, LSTM, Conv1D, Dense, Dropout, Embedding, Input, MaxPooling1D

if len(sys.argv) < 5 or sys.argv[4] not in ("gru", "cnn") or (len(sys.argv) > 6 and sys.argv[6] not in ("every", "last")):
    sys.exit(__doc__)
npz, epochs, n, kind = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
seed = int(sys.argv[5]) if len(sys.argv) > 5 else 0
every = (sys.argv[6] if len(sys.argv) > 6 else "every") == "every"
tf.config.threading.set_intra_op_parallelism_threads(n); tf.config.threading.set_inter_op_parallelism_threads(n)
keras.utils.set_random_seed(seed)
d = np.load(npz)
if kind == "gru":
    middle = [GRU(100, dropout=0.2, recurrent_dropout=0.2)]
else:
    middle = [Conv1D(64, 5, activation="relu"), MaxPooling1D(4), LSTM(100, dropout=0.2, recurrent_dropout=0.2)]
model = Sequential([Input((d["x_train"].shape[1],)), Embedding(1000, 50), Dropout(0.2), *middle,
                    Dense(250, activation="relu"), Dropout(0.2), Dense(1, activation="sigmoid")])
model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
for ep in range(epochs):
    t = time.perf_counter(); h = model.fit(d["x_train"], d["y_train"], batch_size=64, epochs=1, verbose=0)
    dt = time.perf_counter() - t
    tail = "test_acc -"
    if every or ep == epochs - 1:
        t = time.perf_counter(); p = model.predict(d["x_test"], batch_size=500, verbose=0); it = time.perf_counter() - t
        acc = float(((p[:, 0] > 0.5) == (d["y_test"] > 0.5)).mean())
        tail = f"test_acc {acc:.4f} infer_reviews_per_s {len(p)/it:.0f}"
    print(f"keras {kind} seed {seed} epoch {ep+1} train_s {dt:.1f} loss {h.history['loss'][0]:.4f} {tail}", flush=True)
