"""A copy of ../shared/anchors/tf_words.py whose SEED argument takes effect: the anchor seeds Python's `random` with it
and then calls keras.utils.set_random_seed(0), which reseeds `random` with 0, so every seed gave the same run. Here
SEED seeds the weights and the walk. Usage: tf_words_seeded.py CORPUS STEPS SEED (seed 0 is the anchor's run).

The anchor's docstring: TensorFlow 2 run of the tutorial's next-word protocol end to end: 3 raw-float word ids, 2-layer LSTM(512), dense
output initialised N(0,1) like the tutorial's weights['out'], RMSProp(1e-3, rho .9, eps 1e-10), 50,000 single-sample
steps, window walking by 4 from a random offset. Prints the 1,000-step average training accuracy like the tutorial."""
import collections, os, random, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np, tensorflow as tf, keras
tf.config.threading.set_intra_op_parallelism_threads(2); tf.config.threading.set_inter_op_parallelism_threads(2)
SEED = int(sys.argv[3]) if len(sys.argv) > 3 else 0; keras.utils.set_random_seed(SEED); random.seed(SEED)
words = open(sys.argv[1]).read().split(); iters = int(sys.argv[2]) if len(sys.argv) > 2 else 50000
vocab = {w: i for i, (w, _) in enumerate(collections.Counter(words).most_common())}; V = len(vocab)
ids = [vocab[w] for w in words]; n_in = 3
m = keras.Sequential([keras.Input((3, 1)), keras.layers.LSTM(512, return_sequences=True), keras.layers.LSTM(512),
                      keras.layers.Dense(V, kernel_initializer=keras.initializers.RandomNormal(0, 1), bias_initializer=keras.initializers.RandomNormal(0, 1))])
opt = keras.optimizers.RMSprop(1e-3, rho=0.9, epsilon=1e-10)
TF1 = os.environ.get("TF1_RMSPROP") == "1"   # TF1's RMSPropOptimizer: mean-square slot starts at 1, epsilon inside the sqrt
if TF1:
    ms = [tf.Variable(tf.ones_like(v)) for v in m.trainable_variables]
lossf = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
@tf.function
def step(x, y):
    with tf.GradientTape() as t:
        logits = m(x, training=True); loss = lossf(y, logits)
    g = t.gradient(loss, m.trainable_variables)
    if TF1:
        for v, gi, si in zip(m.trainable_variables, g, ms):
            si.assign(0.9 * si + 0.1 * tf.square(gi)); v.assign_sub(1e-3 * gi / tf.sqrt(si + 1e-10))
    else:
        opt.apply_gradients(zip(g, m.trainable_variables))
    return tf.cast(tf.equal(tf.argmax(logits, 1, output_type=tf.int32)[0], y[0]), tf.int32)
offset = random.randint(0, n_in + 1); acc = 0; t0 = time.perf_counter(); last = 0
for s in range(iters):
    if offset > len(ids) - n_in - 1: offset = random.randint(0, n_in + 1)
    x = tf.constant(np.array(ids[offset:offset + n_in], np.float32).reshape(1, n_in, 1)); y = tf.constant([ids[offset + n_in]], tf.int32)
    acc += int(step(x, y))
    if (s + 1) % 1000 == 0:
        if (s + 1) % 5000 == 0: print(f"Iteration = {s+1}, Average Accuracy= {acc/10:.2f}% ({time.perf_counter()-t0:.0f} s)", flush=True)
        last = acc; acc = 0
    offset += n_in + 1
print(f"tf words tf1_rmsprop={TF1} V={V} tokens={len(ids)} steps={iters} total_s {time.perf_counter()-t0:.0f} final_avg_acc {last/10:.2f}%", flush=True)
