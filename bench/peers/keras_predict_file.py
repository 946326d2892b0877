"""Keras (TensorFlow CPU) predicting with a saved Keras model, for bench/keras-predict.mjs: the same model file and the
same inputs lstm-native's Sequential.fromKeras predicts with. One warm-up predict (which traces the predict function),
then REPEAT timed passes over all the inputs; the predictions of the last go to OUT (float32, raw) for the comparison.
    python keras_predict_file.py MODEL X.i32 ROWS COLS OUT [THREADS=2] [BATCH=500] [REPEAT=3]
Last line: BENCH_RESULT {"seconds": [...], ...}"""
import json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np, tensorflow as tf, keras

model_path, x_path, rows, cols, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
threads = int(sys.argv[6]) if len(sys.argv) > 6 else 2
batch = int(sys.argv[7]) if len(sys.argv) > 7 else 500
repeat = int(sys.argv[8]) if len(sys.argv) > 8 else 3
tf.config.threading.set_intra_op_parallelism_threads(threads); tf.config.threading.set_inter_op_parallelism_threads(threads)
x = np.fromfile(x_path, dtype="<i4").reshape(rows, cols)
model = keras.saving.load_model(model_path, compile=False)
model.predict(x[:batch], batch_size=batch, verbose=0)
seconds = []
for _ in range(repeat):
    t = time.perf_counter(); p = model.predict(x, batch_size=batch, verbose=0); seconds.append(time.perf_counter() - t)
np.asarray(p, "<f4").tofile(out)
print("BENCH_RESULT " + json.dumps({"rows": rows, "seconds": seconds, "batchSize": batch, "threads": threads,
                                    "tensorflow": tf.__version__, "keras": keras.__version__}), flush=True)
