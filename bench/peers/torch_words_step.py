"""PyTorch's counterpart of bench/words-step.mjs: one generation step of the next-word model (words_net.py:
the Net of shared/anchors/torch_words.py, a 2-layer nn.LSTM(1, 512) and a 512 x 86 output layer), batch 1, one float input per
step, the (h, c) states carried from step to step, under torch.inference_mode(); the arg-max is read back every step
and fed as the next input, as generation does. 50 warm-up steps, then 3 timed runs of N steps.
    python torch_words_step.py [N=2000] [THREADS=2]
Prints "torch generate X ms/step" three times."""
import sys, time
import torch
from words_net import Net, V

n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
torch.manual_seed(0)

net = Net().eval()
inputs = [torch.tensor([[[float(i)]]]) for i in range(V)]
state = None
word = 0
def step():
    global state, word
    logits, state = net.step(inputs[word], state)
    word = int(logits.argmax(1).item())
with torch.inference_mode():
    for _ in range(50): step()
    for r in range(3):
        t = time.perf_counter()
        for _ in range(n): step()
        print(f"torch generate {(time.perf_counter() - t) / n * 1000:.4f} ms/step", flush=True)
