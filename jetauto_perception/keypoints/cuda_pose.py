"""
CUDA kernels (pycuda) for the keypoint pipeline: crop + normalise, and the heatmap decode.

- ``crop_normalise``: one thread per output pixel and crop; bilinear sampling of a BGR uint8
  frame at ``to_source · (x, y, 1)`` (black outside, as ``cv2.warpAffine`` with
  ``BORDER_CONSTANT``; sample positions rounded to 1/32 px as OpenCV 4 does, or exact as
  OpenCV 5 does, following the installed OpenCV), then ``(v / 255 - mean) / std`` into the
  RGB planes of an ``(N, 3, H, W)`` float32 device buffer: the engine's own input buffer when
  the engine runs on the GPU.
- ``decode_heatmaps``: one block per heatmap. The heatmap (optionally averaged with its
  mirrored flip-test twin) is loaded once into shared memory while each thread tracks its own
  maximum; a warp-shuffle + shared-memory reduction finds the first maximum (``np.argmax``'s
  tie rule); the refinement (quarter offset, or DARK's Gaussian blur of the 5×5
  neighbourhood, floored log and clipped Newton step) and the inverse affine run inside the
  kernel, and one ``(N, K, 3)`` copy brings every keypoint back.

The numpy functions of ``heatmap_decode`` and ``pose_crop`` are the reference; tests check the
kernels against them. pycuda is imported lazily, so this module imports anywhere.
Hand-written kernels, not composed library operations: DARK decode 0.028 ms per call at batch 8
(47x numpy), crop + normalise 0.02 ms for 8 crops (111x cv2 + numpy) on an H100
(benchmarks/RESULTS.md), with no CuPy / PyTorch on the Jetson.
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from .crop import CropGeometry, normalisation_constants, opencv_warp_is_fixed_point
from .heatmap_decode import DARK_EPS, DARK_MAX_STEP, DARK_RADIUS, DARK_SIGMA, DECODE_METHODS
from ..engines.cuda_context import compile_module, CudaContext
from ..timing import StageTimes

DECODE_THREADS = 256
CROP_THREADS = 256
#: DARK needs 13 blurred values around the peak: (dx, dy) of the centre, ±1 and ±2 on each
#: axis, and the four diagonals.
MAX_DARK_RADIUS = 15

KERNEL_SOURCE = r"""
#define DECODE_THREADS %(decode_threads)d
#define MAX_DARK_TAPS %(max_taps)d
#define DARK_MAX_STEP %(max_step)r

__device__ __forceinline__ float sample_channel(const unsigned char* image, int height, int width,
                                                int pitch, int x, int y, int c)
{
    if (x < 0 || y < 0 || x >= width || y >= height) return 0.0f;
    return (float)image[y * pitch + x * 3 + c];
}

extern "C" __global__ void crop_normalise(
    const unsigned char* __restrict__ image, int height, int width, int pitch,
    const double* __restrict__ to_source,  /* (count, 6) input px -> source px */
    float* __restrict__ out, int out_height, int out_width,
    float scale_r, float scale_g, float scale_b, float offset_r, float offset_g, float offset_b,
    int fixed_point)
{
    const int plane = out_height * out_width;
    const int pixel = blockIdx.x * blockDim.x + threadIdx.x;
    if (pixel >= plane) return;
    const int item = blockIdx.y;
    const int x = pixel %% out_width;
    const int y = pixel / out_width;
    const double* m = to_source + 6 * item;
    int x0, y0;
    float ax, ay;
    if (fixed_point) {
        /* OpenCV 4's warpAffine: the row term and the column term are each rounded to 1/1024 px
           (AB_BITS 10), summed with a half step, and cut to 1/32 px (INTER_BITS 5). Same double
           operations, no FMA contraction, round-half-even like cvRound. */
        const int row_x = __double2int_rn(__dadd_rn(__dmul_rn(m[1], (double)y), m[2]) * 1024.0)
                          + 16;
        const int row_y = __double2int_rn(__dadd_rn(__dmul_rn(m[4], (double)y), m[5]) * 1024.0)
                          + 16;
        const int fx = (row_x + __double2int_rn(__dmul_rn(m[0], (double)x) * 1024.0)) >> 5;
        const int fy = (row_y + __double2int_rn(__dmul_rn(m[3], (double)x) * 1024.0)) >> 5;
        x0 = fx >> 5;
        y0 = fy >> 5;
        ax = (fx & 31) * (1.0f / 32.0f);
        ay = (fy & 31) * (1.0f / 32.0f);
    } else {
        /* OpenCV 5 samples at the exact position. */
        const double sx = m[0] * x + m[1] * y + m[2];
        const double sy = m[3] * x + m[4] * y + m[5];
        const double fx0 = floor(sx);
        const double fy0 = floor(sy);
        ax = (float)(sx - fx0);
        ay = (float)(sy - fy0);
        x0 = (int)fx0;
        y0 = (int)fy0;
    }
    float value[3];
    for (int c = 0; c < 3; ++c) {
        const float top = sample_channel(image, height, width, pitch, x0, y0, c) * (1.0f - ax)
                        + sample_channel(image, height, width, pitch, x0 + 1, y0, c) * ax;
        const float bottom =
            sample_channel(image, height, width, pitch, x0, y0 + 1, c) * (1.0f - ax)
            + sample_channel(image, height, width, pitch, x0 + 1, y0 + 1, c) * ax;
        value[c] = top * (1.0f - ay) + bottom * ay;
    }
    float* dst = out + (size_t)item * 3 * plane + pixel;
    /* BGR source -> RGB planes, normalisation folded into one multiply-add. */
    dst[0] = value[2] * scale_r + offset_r;
    dst[plane] = value[1] * scale_g + offset_g;
    dst[2 * plane] = value[0] * scale_b + offset_b;
}

__device__ __forceinline__ void better(float& value, int& index, float other_value,
                                       int other_index)
{
    /* Larger value wins; on a tie the smaller index (np.argmax returns the first maximum). */
    if (other_value > value || (other_value == value && other_index < index)) {
        value = other_value;
        index = other_index;
    }
}

extern "C" __global__ void decode_heatmaps(
    const float* __restrict__ heatmaps,   /* (N, K, H, W) */
    const float* __restrict__ flipped,    /* (N, K, H, W) of the mirrored crops, or NULL */
    const int* __restrict__ flip_perm,    /* (K) */
    const double* __restrict__ to_source, /* (N, 6) input px -> source px */
    float* __restrict__ out,              /* (N, K, 3) */
    int num_keypoints, int height, int width, float stride,
    int method, float sigma, int radius, float eps)
{
    extern __shared__ float tile[];       /* H * W merged heatmap */
    __shared__ float warp_value[DECODE_THREADS / 32];
    __shared__ int warp_index[DECODE_THREADS / 32];
    __shared__ float taps[MAX_DARK_TAPS];
    __shared__ float blurred[13];

    const int map = blockIdx.x;
    const int item = map / num_keypoints;
    const int joint = map - item * num_keypoints;
    const int size = height * width;
    const float* src = heatmaps + (size_t)map * size;
    const float* mirror =
        flipped ? flipped + ((size_t)item * num_keypoints + flip_perm[joint]) * size : 0;

    float best = __int_as_float(0xff800000);  /* -inf */
    int best_index = 0x7fffffff;
    for (int i = threadIdx.x; i < size; i += blockDim.x) {
        float v = src[i];
        if (mirror) {
            /* Mirror back, shift one column right (column 0 keeps its own), average. */
            const int y = i / width;
            const int x = i - y * width;
            v = 0.5f * (v + mirror[y * width + (x == 0 ? width - 1 : width - x)]);
        }
        tile[i] = v;
        if (v > best) { best = v; best_index = i; }
    }
    for (int offset = 16; offset > 0; offset >>= 1) {
        const float other = __shfl_down_sync(0xffffffff, best, offset);
        const int other_index = __shfl_down_sync(0xffffffff, best_index, offset);
        better(best, best_index, other, other_index);
    }
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    if (lane == 0) { warp_value[warp] = best; warp_index[warp] = best_index; }
    if (method == 1 && threadIdx.x <= 2 * radius) {
        const float t = (float)((int)threadIdx.x - radius);  /* threadIdx.x is unsigned */
        taps[threadIdx.x] = expf(-t * t / (2.0f * sigma * sigma));
    }
    __syncthreads();
    if (warp == 0) {
        best = lane < blockDim.x / 32 ? warp_value[lane] : __int_as_float(0xff800000);
        best_index = lane < blockDim.x / 32 ? warp_index[lane] : 0x7fffffff;
        for (int offset = 16; offset > 0; offset >>= 1) {
            const float other = __shfl_down_sync(0xffffffff, best, offset);
            const int other_index = __shfl_down_sync(0xffffffff, best_index, offset);
            better(best, best_index, other, other_index);
        }
        if (lane == 0) { warp_value[0] = best; warp_index[0] = best_index; }
    }
    __syncthreads();
    const float peak = warp_value[0];
    const int peak_index = warp_index[0] == 0x7fffffff ? 0 : warp_index[0];
    const int px = peak_index %% width;
    const int py = peak_index / width;
    const bool dark_valid =
        method == 1 && px >= 2 && px <= width - 3 && py >= 2 && py <= height - 3;

    if (dark_valid && threadIdx.x < 13) {
        /* Blurred value at one of the 13 points DARK's derivatives use (zero outside). */
        const int dxs[13] = {0, 1, -1, 2, -2, 0, 0, 0, 0, 1, 1, -1, -1};
        const int dys[13] = {0, 0, 0, 0, 0, 1, -1, 2, -2, 1, -1, 1, -1};
        const int cx = px + dxs[threadIdx.x];
        const int cy = py + dys[threadIdx.x];
        float norm = 0.0f;
        for (int t = 0; t <= 2 * radius; ++t) norm += taps[t];
        float sum = 0.0f;
        for (int j = -radius; j <= radius; ++j) {
            const int yy = cy + j;
            if (yy < 0 || yy >= height) continue;
            float row = 0.0f;
            for (int i = -radius; i <= radius; ++i) {
                const int xx = cx + i;
                if (xx >= 0 && xx < width) row += taps[i + radius] * tile[yy * width + xx];
            }
            sum += taps[j + radius] * row;
        }
        blurred[threadIdx.x] = sum / (norm * norm);
    }
    __syncthreads();
    if (threadIdx.x != 0) return;

    double ox = 0.0, oy = 0.0;
    if (method == 0) {
        if (px > 0 && px < width - 1) {
            const float d = tile[peak_index + 1] - tile[peak_index - 1];
            ox = d > 0.0f ? 0.25 : (d < 0.0f ? -0.25 : 0.0);
        }
        if (py > 0 && py < height - 1) {
            const float d = tile[peak_index + width] - tile[peak_index - width];
            oy = d > 0.0f ? 0.25 : (d < 0.0f ? -0.25 : 0.0);
        }
    } else if (dark_valid) {
        double l[13];
        for (int i = 0; i < 13; ++i) l[i] = log(fmax((double)blurred[i], (double)eps));
        const double dx = 0.5 * (l[1] - l[2]);
        const double dy = 0.5 * (l[5] - l[6]);
        const double dxx = 0.25 * (l[3] - 2.0 * l[0] + l[4]);
        const double dyy = 0.25 * (l[7] - 2.0 * l[0] + l[8]);
        const double dxy = 0.25 * (l[9] - l[10] - l[11] + l[12]);
        const double det = dxx * dyy - dxy * dxy;
        if (det > 0.0 && dxx < 0.0) {
            ox = fmin(fmax(-(dyy * dx - dxy * dy) / det, -DARK_MAX_STEP), DARK_MAX_STEP);
            oy = fmin(fmax(-(dxx * dy - dxy * dx) / det, -DARK_MAX_STEP), DARK_MAX_STEP);
        }
    }
    const double* m = to_source + 6 * item;
    const double xin = (px + ox) * stride;
    const double yin = (py + oy) * stride;
    float* dst = out + (size_t)map * 3;
    dst[0] = (float)(m[0] * xin + m[1] * yin + m[2]);
    dst[1] = (float)(m[3] * xin + m[4] * yin + m[5]);
    dst[2] = peak;
}
"""


def kernel_source() -> str:
    return KERNEL_SOURCE % {'decode_threads': DECODE_THREADS, 'max_taps': 2 * MAX_DARK_RADIUS + 1,
                            'max_step': float(DARK_MAX_STEP)}


_METHOD_CODES = {'quarter': 0, 'dark': 1, 'argmax': 2}


class DeviceArray:
    """A growable device allocation with a page-locked host twin for the one copy back."""

    def __init__(self, dtype: Any = np.float32) -> None:
        self.dtype = np.dtype(dtype)
        self.capacity = 0
        self.device: Any = None
        self.host: Optional[np.ndarray] = None

    def ensure(self, count: int, with_host: bool = False) -> Any:
        import pycuda.driver as cuda
        if count > self.capacity:
            if self.device is not None:
                self.device.free()
            self.capacity = max(count, 2 * self.capacity)
            self.device = cuda.mem_alloc(self.capacity * self.dtype.itemsize)
            self.host = None
        if with_host and self.host is None:
            self.host = cuda.pagelocked_empty(self.capacity, self.dtype)
        return self.device

    def free(self) -> None:
        if self.device is not None:
            self.device.free()
            self.device = None
        self.host = None
        self.capacity = 0


class CudaPoseKernels:
    """
    The compiled kernels and their launches, on a caller-chosen stream.

    Every pointer argument is a device address; calls must run with the context active.
    """

    def __init__(self, device_id: int = 0) -> None:
        module = compile_module(kernel_source(), device_id)
        self._crop = module.get_function('crop_normalise')
        self._crop.prepare('PiiiPPiiffffffi')
        self._decode = module.get_function('decode_heatmaps')
        self._decode.prepare('PPPPPiiififif')

    def crop(self, image: Any, image_hw: Tuple[int, int], pitch: int, to_source: Any, count: int,
             out: Any, input_hw: Tuple[int, int], scale: np.ndarray, offset: np.ndarray,
             stream: Any = None, fixed_point: Optional[bool] = None) -> None:
        """
        Warp ``count`` crops (``to_source``: ``(count, 6)`` float64) into ``out``.

        ``fixed_point`` picks OpenCV 4's 1/32-px sample positions or OpenCV 5's exact ones;
        None follows the installed OpenCV, so the CPU and CUDA crops agree.
        """
        if fixed_point is None:
            fixed_point = opencv_warp_is_fixed_point()
        if count == 0:
            return
        plane = int(input_hw[0]) * int(input_hw[1])
        grid = ((plane + CROP_THREADS - 1) // CROP_THREADS, int(count))
        self._crop.prepared_async_call(
            grid, (CROP_THREADS, 1, 1), stream, image, int(image_hw[0]), int(image_hw[1]),
            int(pitch), to_source, out, int(input_hw[0]), int(input_hw[1]),
            float(scale[0]), float(scale[1]), float(scale[2]),
            float(offset[0]), float(offset[1]), float(offset[2]), int(bool(fixed_point)))

    def decode(self, heatmaps: Any, flipped: Any, flip_perm: Any, to_source: Any, out: Any,
               count: int, num_keypoints: int, heatmap_hw: Tuple[int, int], stride: float,
               method: str = 'quarter', sigma: float = DARK_SIGMA, radius: int = DARK_RADIUS,
               stream: Any = None) -> None:
        """
        Decode ``count × num_keypoints`` heatmaps into ``out`` ``(count, K, 3)`` float32.

        ``to_source`` is ``(count, 6)`` float64 (input px -> source px).
        ``flipped`` (device address or 0) holds the mirrored crops' heatmaps for the flip test.
        """
        if method not in DECODE_METHODS:
            raise ValueError("decode method must be one of %s, not '%s'"
                             % (', '.join(DECODE_METHODS), method))
        if not 0 <= radius <= MAX_DARK_RADIUS:
            raise ValueError('DARK radius must be 0..%d, got %d' % (MAX_DARK_RADIUS, radius))
        blocks = int(count) * int(num_keypoints)
        if blocks == 0:
            return
        height, width = int(heatmap_hw[0]), int(heatmap_hw[1])
        self._decode.prepared_async_call(
            (blocks, 1), (DECODE_THREADS, 1, 1), stream, heatmaps, flipped or 0, flip_perm,
            to_source, out, int(num_keypoints), height, width, float(stride),
            _METHOD_CODES[method], float(sigma), int(radius), float(DARK_EPS),
            shared_size=height * width * 4)


def _device_engine(engine: Any) -> bool:
    """Tell whether the engine's tensors live in device buffers (the TensorRT backend)."""
    return all(hasattr(engine, name) for name in ('device_buffer', 'execute_async', 'stream'))


class CudaPoseRunner:
    """
    Runs one frame of :class:`KeypointEstimator` on the GPU.

    Frame upload → crop kernel (straight into the engine's input buffer for a TensorRT engine)
    → engine → decode kernel → one copy of ``(N, K, 3)`` back. An engine with host I/O (ONNX
    Runtime) gets the crops copied down and its heatmaps copied up around its call.
    """

    def __init__(self, estimator: Any, device_id: int = 0) -> None:
        import pycuda.driver as cuda
        self.estimator = estimator
        self.context = CudaContext.get(device_id)
        self.device_engine = _device_engine(estimator.engine)
        config = estimator.config
        self.scale, self.offset = normalisation_constants(config.mean, config.std)
        with self.context.active():
            self.kernels = CudaPoseKernels(device_id)
            self.stream = estimator.engine.stream if self.device_engine else cuda.Stream()
            self.flip_perm = cuda.to_device(np.asarray(estimator.flip_perm, dtype=np.int32))
        self.image = DeviceArray(np.uint8)
        self.matrices = DeviceArray(np.float64)
        self.crops = DeviceArray(np.float32)
        self.heatmaps = DeviceArray(np.float32)
        self.keypoints = DeviceArray(np.float32)

    def run(self, image_bgr: np.ndarray, geometry: CropGeometry,
            timings: Optional[StageTimes] = None) -> np.ndarray:
        """Keypoints ``(N, K, 3)`` of the crops of ``geometry`` (N ≥ 1)."""
        timings = timings or StageTimes()
        with self.context.active():
            with timings.stage('pre'):
                crops = self._upload(image_bgr, geometry)
            with timings.stage('infer'):
                heatmaps = self._infer(crops, geometry, image_bgr)
            with timings.stage('post'):
                return self._decode(heatmaps, geometry)

    # -- stages ----------------------------------------------------------------------------------
    def _upload(self, image_bgr: np.ndarray, geometry: CropGeometry) -> int:
        import pycuda.driver as cuda
        image = np.ascontiguousarray(image_bgr)
        self.image.ensure(image.size)
        cuda.memcpy_htod_async(self.image.device, image, self.stream)
        matrices = geometry.to_source
        if self.estimator.config.flip_test:
            matrices = np.concatenate([matrices, geometry.flipped_to_source()])
        matrices = np.ascontiguousarray(matrices.reshape(-1, 6), dtype=np.float64)
        self.matrices.ensure(matrices.size, with_host=True)
        host = self.matrices.host[:matrices.size]  # type: ignore[index]
        host[:] = matrices.reshape(-1)
        cuda.memcpy_htod_async(self.matrices.device, host, self.stream)
        return matrices.shape[0]

    def _crop(self, image_bgr: np.ndarray, first: int, count: int, out: Any) -> None:
        estimator = self.estimator
        self.kernels.crop(self.image.device, image_bgr.shape[:2], image_bgr.shape[1] * 3,
                          int(self.matrices.device) + first * 6 * 8, count, out,
                          estimator.input_hw, self.scale, self.offset, self.stream)

    def _infer(self, count: int, geometry: CropGeometry, image_bgr: np.ndarray) -> int:
        """Crop and run the model over ``count`` crops; returns the heatmaps' device address."""
        import pycuda.driver as cuda
        estimator = self.estimator
        in_h, in_w = estimator.input_hw
        crop_floats = 3 * in_h * in_w
        map_floats = estimator.num_keypoints * estimator.heatmap_hw[0] * estimator.heatmap_hw[1]
        self.heatmaps.ensure(count * map_floats, with_host=not self.device_engine)
        engine = estimator.engine
        if self.device_engine:
            # A batch-1 engine: crop straight into its input buffer, run, keep its heatmaps.
            engine_in = engine.device_buffer(estimator.input_name)
            engine_out = engine.device_buffer(estimator.output_name)
            for index in range(count):
                self._crop(image_bgr, index, 1, engine_in)
                engine.execute_async()
                cuda.memcpy_dtod_async(int(self.heatmaps.device) + index * map_floats * 4,
                                       engine_out, map_floats * 4, self.stream)
            return int(self.heatmaps.device)
        self.crops.ensure(count * crop_floats, with_host=True)
        self._crop(image_bgr, 0, count, self.crops.device)
        batch = self.crops.host[:count * crop_floats]  # type: ignore[index]
        cuda.memcpy_dtoh_async(batch, self.crops.device, self.stream)
        self.stream.synchronize()
        heatmaps = estimator.run_model(batch.reshape(count, 3, in_h, in_w))
        host = self.heatmaps.host[:heatmaps.size]  # type: ignore[index]
        host[:] = heatmaps.reshape(-1)
        cuda.memcpy_htod_async(self.heatmaps.device, host, self.stream)
        return int(self.heatmaps.device)

    def _decode(self, heatmaps: int, geometry: CropGeometry) -> np.ndarray:
        import pycuda.driver as cuda
        estimator = self.estimator
        count = len(geometry)
        k = estimator.num_keypoints
        map_bytes = k * estimator.heatmap_hw[0] * estimator.heatmap_hw[1] * 4
        flipped = heatmaps + count * map_bytes if estimator.config.flip_test else 0
        self.keypoints.ensure(count * k * 3, with_host=True)
        self.kernels.decode(heatmaps, flipped, self.flip_perm, self.matrices.device,
                            self.keypoints.device, count, k, estimator.heatmap_hw,
                            estimator.stride, estimator.config.decode, stream=self.stream)
        result = self.keypoints.host[:count * k * 3]  # type: ignore[index]
        cuda.memcpy_dtoh_async(result, self.keypoints.device, self.stream)
        self.stream.synchronize()
        return result.reshape(count, k, 3).copy()

    def close(self) -> None:
        with self.context.active():
            for buffer in (self.image, self.matrices, self.crops, self.heatmaps, self.keypoints):
                buffer.free()
            self.flip_perm.free()
