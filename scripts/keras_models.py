"""Keras models for lstm-native's Keras import and export tests (run with bench/.venv/bin/python: Keras 3 with
TensorFlow, and tf_keras for Keras 2 files when it imports).

  keras_models.py make OUT_DIR
      Trains each model below for one epoch on random data (so no weight is an initial value) and writes NAME.keras,
      NAME.h5 (Keras 3's legacy HDF5) and NAME.keras2.h5 (tf_keras), with NAME.io.json / NAME.keras2.io.json =
      {x, xShape, xDtype, y, yShape}: inputs and Keras's own predictions. The unsupported_* models are written as
      .keras only, for the error path.
  keras_models.py check
      Prints the Keras version and backend (the tests' probe for a usable Keras).
  keras_models.py predict MODEL IO_JSON OUT_JSON [RESAVED.keras]
      Opens MODEL with keras.saving.load_model, predicts IO_JSON's x, writes {y, yShape} to OUT_JSON and, when
      given, saves the model again as RESAVED.keras (the round trip's way back to lstm-native).
"""
import importlib.util, json, os, sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# TensorFlow where it is installed (bench/.venv); else JAX, the lighter install CI uses (.ci/run).
os.environ.setdefault("KERAS_BACKEND", "tensorflow" if importlib.util.find_spec("tensorflow") else "jax")
import numpy as np  # noqa: E402
import keras  # noqa: E402


def write_io(path, x, y):
    json.dump({"x": x.reshape(-1).tolist(), "xShape": list(x.shape), "xDtype": str(x.dtype),
               "y": np.asarray(y, "float32").reshape(-1).tolist(), "yShape": list(np.shape(y))}, open(path, "w"))


def tokens(rng, n, t, vocab):
    """Token ids with 'pre' zero padding of random length, as padSequences makes them."""
    x = rng.integers(1, vocab, size=(n, t)).astype("int32")
    for i, pad in enumerate(rng.integers(0, t // 2, size=n)):
        x[i, :pad] = 0
    return x


def cases(K, rng):
    """(name, build(K) -> model, x_train, y_train, x_query, loss, supported)."""
    L = K.layers
    series = rng.standard_normal((256, 16, 3)).astype("float32")
    toks = tokens(rng, 256, 12, 50)
    y1 = (series[:, :, 0].sum(1) > 0).astype("float32")
    y3 = (toks.sum(1) % 3).astype("int32")

    def seq(shape, dtype, layers):
        return lambda: K.Sequential([L.InputLayer(shape, dtype=dtype) if K is keras else L.InputLayer(input_shape=shape, dtype=dtype)] + layers())

    def functional():
        inp = K.Input(shape=(16, 3))
        h = L.Conv1D(4, 3, padding="causal", dilation_rate=2, name="dilated")(inp)
        h = L.GlobalAveragePooling1D()(h)
        h = L.Dense(3)(h)
        out = L.Activation("softmax")(h)
        return K.Model(inp, out, name="chain")

    yield "gru_stack", seq((12,), "int32", lambda: [L.Embedding(50, 8), L.GRU(6, return_sequences=True), L.GRU(5), L.Dense(3, activation="softmax")]), toks, y3, toks[:16], "sparse_categorical_crossentropy", True
    yield "simple_rnn", seq((16, 3), "float32", lambda: [L.SimpleRNN(7, return_sequences=True), L.SimpleRNN(4, activation="relu"), L.Dense(1)]), series, y1, series[:20], "mse", True
    yield "conv_pool_lstm", seq((16, 3), "float32", lambda: [L.Conv1D(6, 3, padding="same", activation="relu"), L.MaxPooling1D(2), L.LSTM(5), L.Dense(1, activation="sigmoid")]), series, y1, series[:20], "binary_crossentropy", True
    yield "bigru_masked", seq((12,), "int32", lambda: [L.Embedding(50, 6, mask_zero=True), L.Bidirectional(L.GRU(5, return_sequences=True)), L.GlobalAveragePooling1D(), L.Dropout(0.1), L.Dense(3, activation="softmax")]), toks, y3, toks[:16], "sparse_categorical_crossentropy", True
    yield "no_bias", seq((16, 3), "float32", lambda: [L.LSTM(5, use_bias=False, return_sequences=True), L.GRU(4, use_bias=False, return_sequences=True), L.SimpleRNN(3, use_bias=False), L.Dense(2, use_bias=False), L.Activation("tanh")]), series, np.stack([y1, 1 - y1], 1), series[:20], "mse", True
    yield "functional_chain", functional, series, (series[:, :, 1].sum(1) > 0).astype("int32"), series[:20], "sparse_categorical_crossentropy", True
    yield "unsupported_layernorm", seq((16, 3), "float32", lambda: [L.LSTM(5), L.LayerNormalization(name="norm"), L.Dense(1)]), series, y1, series[:4], "mse", False
    yield "unsupported_gru_reset_before", seq((16, 3), "float32", lambda: [L.GRU(4, reset_after=False, name="old_gru"), L.Dense(1)]), series, y1, series[:4], "mse", False
    yield "unsupported_merge_sum", seq((16, 3), "float32", lambda: [L.Bidirectional(L.LSTM(4), merge_mode="sum", name="bi_sum"), L.Dense(1)]), series, y1, series[:4], "mse", False


def make(out):
    os.makedirs(out, exist_ok=True)
    keras.utils.set_random_seed(11)
    for name, build, x, y, xq, loss, supported in cases(keras, np.random.default_rng(11)):
        m = build()
        m.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss=loss, metrics=["accuracy"] if "categorical" in loss else None)
        m.fit(x, y, epochs=1, batch_size=32, verbose=0)
        m.save(os.path.join(out, name + ".keras"))
        if not supported:
            print("wrote", name, "(unsupported)")
            continue
        m.save(os.path.join(out, name + ".h5"))
        p = m.predict(xq, verbose=0)
        write_io(os.path.join(out, name + ".io.json"), xq, p)
        for ext in (".keras", ".h5"):
            q = keras.saving.load_model(os.path.join(out, name + ext), compile=False).predict(xq, verbose=0)
            assert np.abs(q - p).max() < 1e-5, (name, ext)
        print("wrote", name, p.shape)
    try:
        import tf_keras
    except ImportError as e:  # Keras 2 files are optional
        print("no tf_keras, so no Keras 2 files:", e)
        return
    tf_keras.utils.set_random_seed(12)
    for name, build, x, y, xq, loss, supported in cases(tf_keras, np.random.default_rng(12)):
        if not supported:
            continue
        m = build()
        m.compile(optimizer=tf_keras.optimizers.Adam(learning_rate=0.01), loss=loss)
        m.fit(x, y, epochs=1, batch_size=32, verbose=0)
        m.save(os.path.join(out, name + ".keras2.h5"), save_format="h5")
        write_io(os.path.join(out, name + ".keras2.io.json"), xq, m.predict(xq, verbose=0))
        print("wrote Keras 2", name)


def predict(model_path, io_path, out_path, resaved=None):
    d = json.load(open(io_path))
    x = np.asarray(d["x"], d["xDtype"]).reshape(d["xShape"])
    m = keras.saving.load_model(model_path)
    y = np.asarray(m.predict(x, verbose=0), "float32")
    json.dump({"y": y.reshape(-1).tolist(), "yShape": list(y.shape)}, open(out_path, "w"))
    if resaved:
        m.save(resaved)


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "check":
        print("keras", keras.__version__, keras.backend.backend())
    elif len(sys.argv) == 3 and sys.argv[1] == "make":
        make(sys.argv[2])
    elif len(sys.argv) in (5, 6) and sys.argv[1] == "predict":
        predict(*sys.argv[2:])
    else:
        sys.exit(__doc__)
