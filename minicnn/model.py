"""Sequential: layers applied in turn, their parameters, and their state as a dict of arrays
(``state_dict``, as optimizers have one); files are minicnn/serialization.py's."""
from copy import copy

import numpy as np

from . import arrays, gpu, parallel
from .layers import BatchNorm1D, BatchNorm2D, Conv2D, Dense, MaxPool2D, ReLU, Residual

FOLDS_INTO = {Conv2D: BatchNorm2D, Dense: BatchNorm1D}     # a layer, and the BatchNorm predict folds into it


class Parameters:
    """A model's (value, grad) pairs, looked up in its layers whenever they are iterated."""

    def __init__(self, layers):
        self._layers = layers

    def __iter__(self):
        return ((layer.params[k], layer.grads[k]) for layer in self._layers for k in layer.params)

    def __len__(self):
        return sum(len(layer.params) for layer in self._layers)


class Sequential:
    def __init__(self, layers, metadata=None):
        self.layers = list(layers)
        every = list(_every_layer(self.layers))
        if len({id(layer) for layer in every}) < len(every):
            # backward reads what the layer's latest forward kept, so a second use would overwrite the first's
            raise ValueError("a layer appears twice in the Sequential (or in a Residual block's body as well); "
                             "give each place its own layer")
        self.metadata = dict(metadata or {})
        self._ran = self.layers         # the layers the latest forward called, for backward to follow

    def forward(self, x, training=False):
        """The layers in turn.  On the CPU, a ReLU right after a layer that applies it as it writes its output
        and differentiates through it (``trains_with_relu``: BatchNorm) is left to that layer: one pass over
        memory fewer each way, and the same numbers.  So is a ReLU right before a layer that commutes with it
        (``commutes_with_relu``: MaxPool2D, max(relu(x)) = relu(max(x))), which applies it to its 4× smaller
        output instead.  In training, a BatchNorm2D followed by a ReLU and a 2×2 max-pool of stride 2
        (``trains_with_pool``) does all three in one pass, never writing its own output (docs/batchnorm.md)."""
        x = self.where_params_are(x)
        on_cpu, ran, i = not arrays.on_gpu(x), [], 0
        while i < len(self.layers):
            layer = self.layers[i]
            if on_cpu and training and layer.trains_with_pool and self._relu_follows(i) and self._pool_2x2_at(i + 2, x):
                x = layer.forward(x, training=True, relu=True, pool=True)
                i += 2
            elif on_cpu and layer.trains_with_relu and self._relu_follows(i):
                x = layer.forward(x, training=training, relu=True)
                i += 1
            elif on_cpu and type(layer) is ReLU and i + 1 < len(self.layers) \
                    and self.layers[i + 1].commutes_with_relu:
                layer = self.layers[i + 1]
                x = layer.forward(x, training=training, relu=True)
                i += 1
            else:
                x = layer.forward(x, training=training)
            ran.append(layer)
            i += 1
        self._ran = ran
        return x

    __call__ = forward

    def predict(self, x):
        """Inference: forward(x, training=False), with what follows a layer done by that layer where it can
        (see Predictor).  To classify batch after batch with the same weights, keep a ``predictor()``."""
        return Predictor(self, kept=False).predict(x)

    def predictor(self):
        """A Predictor of this model's weights as they are now: ``predict`` with what depends on the weights
        alone done once, not on every call — one face through the vgg net 1.3× faster (docs/performance.md)."""
        return Predictor(self)

    def _relu_follows(self, i):
        return i + 1 < len(self.layers) and type(self.layers[i + 1]) is ReLU

    def _pool_2x2_at(self, i, x):
        """layers[i] is a 2×2 max-pool of stride 2 that can take x (the pool raises its own error otherwise)."""
        return i < len(self.layers) and type(self.layers[i]) is MaxPool2D and self.layers[i].kernel_size == 2 \
            and self.layers[i].stride == 2 and min(x.shape[2:]) >= 2

    def backward(self, dy, input_grad=True):
        """dL/dx of the latest forward's input, adding every layer's dL/dθ to its grads.  input_grad=False: dL/dx
        is not wanted (training on data), and a first layer that ``skips_input_grad`` skips it (returns None)."""
        dy = self.where_params_are(dy)
        if not self._ran:
            return dy
        first = self._ran[0]
        for layer in reversed(self._ran[1:]):
            dy = layer.backward(dy)
        if not input_grad and first.skips_input_grad:
            return first.backward(dy, input_grad=False)
        return first.backward(dy)

    def recompute_batchnorm_statistics(self, x, batch_size=256):
        """Set every BatchNorm layer's running mean and variance to their averages over the batches of ``x``.

        Training leaves each running statistic an exponential average over its last ~1/momentum batches:
        of augmented inputs, and of weights that were still moving.  Inference wants the final weights'
        statistics on inputs like those it will see, so this makes one pass over ``x`` (un-augmented
        training inputs, in random order as training drew them) with each BatchNorm in training mode,
        normalising with the batch's own mean and variance as it did in training, and Dropout off, as at
        inference.  At batch t, of b_t inputs after n_t, the momentum is b_t / (n_t + b_t), so after the pass

            running_mean = Σ_t b_t·μ_t / Σ_t b_t      running_var = Σ_t b_t·σ²_t / Σ_t b_t   (σ²_t unbiased)

        (the bn_update of stochastic weight averaging, Izmailov et al. 2018).  Returns the number of
        BatchNorm layers updated; parameters are not touched."""
        norms = [layer for layer in _every_layer(self.layers) if isinstance(layer, (BatchNorm1D, BatchNorm2D))]
        momenta = [layer.momentum for layer in norms]
        seen = 0
        try:
            for start in range(0, len(x), batch_size):
                h = x[start:start + batch_size]
                if seen and len(h) < 2:          # a last batch of one input has no variance: left out
                    break
                for layer in norms:
                    layer.momentum = len(h) / (seen + len(h))
                _statistics_pass(self.layers, self.where_params_are(h), norms)
                seen += len(h)
        finally:
            for layer, momentum in zip(norms, momenta):
                layer.momentum = momentum
        return len(norms)

    def parameters(self):
        """(value, grad) pairs in a fixed order, read from the layers each time they are iterated (so an
        optimizer built before ``astype`` updates the converted arrays); optimizers update values in place."""
        return Parameters(self.layers)

    def zero_grad(self):
        for layer in self.layers:
            layer.zero_grad()

    def astype(self, dtype):
        for layer in self.layers:
            layer.astype(dtype)
        return self

    @property
    def on_gpu(self):
        """True after minicnn.gpu.model_to_gpu: the params are CuPy arrays."""
        first = next(iter(self.parameters()), None)
        return first is not None and arrays.on_gpu(first[0])

    def where_params_are(self, x):
        """``x`` on the device the params live on: the one place data moves to a GPU."""
        return gpu.to_gpu(x) if self.on_gpu and not arrays.on_gpu(x) else x

    @property
    def dtype(self):
        for layer in self.layers:
            for value in layer.params.values():
                return value.dtype
        return np.dtype(np.float32)

    def num_parameters(self):
        return sum(value.size for value, _ in self.parameters())

    def summary(self, input_shape):
        """Table of each layer's output shape and parameter count for inputs of ``input_shape`` (no batch)."""
        rows = _summary_rows(self.layers, np.zeros((1,) + tuple(input_shape), dtype=self.dtype))
        name_width = max([len("layer")] + [len(r[0]) for r in rows]) + 2     # columns never run together
        shape_width = max([len("output shape")] + [len(r[1]) for r in rows]) + 2
        width = name_width + shape_width + 12
        lines = [f"{'layer':<{name_width}}{'output shape':<{shape_width}}{'params':>12}", "-" * width]
        lines += [f"{name:<{name_width}}{shape:<{shape_width}}{count:>12}" for name, shape, count in rows]
        lines += ["-" * width, f"{'total':<{name_width + shape_width}}{self.num_parameters():>12,}"]
        return "\n".join(lines)

    def architecture(self):
        return [{"type": type(layer).__name__, "config": layer.config()} for layer in self.layers]

    def state_dict(self):
        """Every parameter and buffer, keyed '{layer index}.{name}' (the arrays themselves, not copies)."""
        return {f"{i}.{name}": value
                for i, layer in enumerate(self.layers)
                for store in (layer.params, layer.buffers)
                for name, value in store.items()}

    def load_state_dict(self, arrays):
        """Copy ``arrays`` (as state_dict gives them) into the layers; ValueError naming the first that does not fit."""
        for i, layer in enumerate(self.layers):
            for store in (layer.params, layer.buffers):
                for name, value in store.items():
                    key = f"{i}.{name}"
                    if key not in arrays:
                        raise ValueError(f"missing array {key!r}")
                    if arrays[key].shape != value.shape:
                        raise ValueError(f"array {key!r} has shape {arrays[key].shape}, expected {value.shape}")
                    if arrays[key].dtype.kind not in "fiu":
                        raise ValueError(f"array {key!r} holds {arrays[key].dtype} values, not numbers")
                    if not np.isfinite(arrays[key]).all():
                        raise ValueError(f"array {key!r} holds NaN or infinite values")
                    value[...] = arrays[key]

    def save(self, path, metadata=None):
        """Write the model file (minicnn/serialization.py), atomically."""
        from .serialization import save        # (serialization builds Sequentials: imported here, not above)
        save(self, path, metadata)


class Predictor:
    """Sequential.predict, with what depends on the weights alone prepared once.

    A BatchNorm after a Conv2D (BatchNorm1D after a Dense) is, at inference, a fixed affine per channel
    (BatchNorm.inference_affine), which the layer applies as it writes its output; a ReLU after Conv2D,
    BatchNorm or Dense becomes max(·, 0) applied there too.  Each saves a pass over memory; the result
    equals forward's up to float rounding.  A kept predictor (``model.predictor()``) also keeps each
    3×3 convolution's Winograd-transformed filters from call to call, which makes Winograd the faster
    algorithm at every batch size (minicnn/conv_cpu.py); it works on a copy of the weights taken when it
    is made, so training the model or loading other weights into it later does not reach it: make a new one.
    ``kept=False`` (what ``model.predict`` does on every call): the model's own layers, nothing kept.
    A Residual block runs its body through a Predictor of its own (ResidualStep)."""

    def __init__(self, model, kept=True):
        self.where_params_are = model.where_params_are
        layers = [_step_layer(layer, kept) for layer in model.layers]
        self.steps = []         # (layer, the options its forward takes)
        on_gpu, dtype = model.on_gpu, model.dtype       # each looks through the parameters: once, not per layer
        i, n = 0, len(layers)
        while i < n:
            layer, options = layers[i], {}
            if not on_gpu:
                folds = FOLDS_INTO.get(type(layer))
                if folds and i + 1 < n and type(layers[i + 1]) is folds \
                        and layers[i + 1].num_features == layer.params["bias"].shape[0]:
                    options["affine"] = layers[i + 1].inference_affine(dtype)
                    i += 1
                if layer.fuses_relu and model._relu_follows(i):      # the copies stand where the layers do
                    options["relu"] = True
                    i += 1
                if kept and type(layer) is Conv2D:
                    options["transformed"] = {}
                if type(layer) is MaxPool2D:
                    options["keep_winners"] = False
            self.steps.append((layer, options))
            i += 1

    def predict(self, x):
        x = self.where_params_are(x)
        with parallel.single_threaded_blas():      # once for the pass, not in each of its loops
            for layer, options in self.steps:
                x = layer.forward(x, training=False, **options)
        return x

    __call__ = predict


class ResidualStep:
    """A Residual block in a Predictor: x + its body's own Predictor (BatchNorm folded inside it too), and the
    ReLU after the block applied in place as the sum is written."""
    fuses_relu = True

    def __init__(self, body):
        self.body = body

    def forward(self, x, training=False, relu=False):
        y = x + self.body.predict(x)
        return np.maximum(y, 0, out=y) if relu else y


def _step_layer(layer, kept):
    """What a Predictor runs for ``layer``: a Residual block as a ResidualStep, else the layer itself, or where
    ``kept`` a copy of its weights."""
    if type(layer) is Residual:
        return ResidualStep(Predictor(layer.body, kept))
    return _copy_of_weights(layer) if kept else layer


def _copy_of_weights(layer):
    """The layer, with its own copy of its params and buffers (and no grads: it does not train)."""
    twin = copy(layer)
    twin.params = {name: value.copy() for name, value in layer.params.items()}
    twin.buffers = {name: value.copy() for name, value in layer.buffers.items()}
    twin.grads = {}
    return twin


def _summary_rows(layers, x, indent=""):
    """(description, output shape, parameter count) of each layer in turn on x; a Residual block's layers follow
    its own row (whose parameters are theirs, counted there), indented."""
    rows = []
    for layer in layers:
        if type(layer) is Residual:
            rows.append((f"{indent}Residual: its input + the output of", str(tuple(x.shape[1:])), ""))
            rows += _summary_rows(layer.body.layers, x, indent + "  ")
        else:
            x = layer.forward(x)
            rows.append((indent + repr(layer), str(tuple(x.shape[1:])), f"{sum(v.size for v in layer.params.values()):,}"))
    return rows


def _every_layer(layers):
    """The layers, and those inside each Residual block's body, in the order they run."""
    for layer in layers:
        yield layer
        if type(layer) is Residual:
            yield from _every_layer(layer.body.layers)


def _statistics_pass(layers, h, norms):
    """forward(h) with only the BatchNorm layers in ``norms`` in training mode (Dropout off), blocks included."""
    for layer in layers:
        if type(layer) is Residual:
            h = h + _statistics_pass(layer.body.layers, h, norms)
        else:
            h = layer.forward(h, training=layer in norms)
    return h
