"""
YOLOv5 on the GPU: letterbox pre-processing and candidate decoding as pycuda kernels.

The CPU path (``letterbox_blob`` + ``yolov5_candidates`` + ``select_detections``) is the
reference; these kernels reproduce it so that a detector can switch ``device`` without changing
its results:

* :class:`CudaLetterbox` -- one kernel does letterbox resize (``cv2.INTER_LINEAR`` geometry,
  half-pixel centres), BGR->RGB, /255 and HWC->CHW from the raw uint8 frame, which is uploaded
  once from page-locked memory; it writes straight into an engine's input buffer. cv2 resizes
  uint8 with 11-bit fixed-point weights, this kernel in float: values differ by less than one
  grey level (< 1/255).
* :class:`CudaYoloDecoder` -- one warp per output row: objectness pre-filter, best class (or
  every class with ``multi_label``), class filter and cx,cy,w,h -> x1,y1,x2,y2. Only the few
  surviving candidates are copied back; NMS on them stays on the CPU
  (:func:`select_detections`), in the same candidate order as the CPU decode, so the boxes are
  the same.
* :class:`CudaYoloV5Detector` -- a :class:`YoloV5Detector` that uses both. With an engine that
  exposes device buffers (``TensorRTEngine``: ``device_buffer``, ``execute_async``, ``stream``)
  the whole frame stays on the GPU: pre-process -> engine -> decode on one stream, one
  synchronisation per frame. With any other engine (ONNX Runtime) only the pre-processing runs on
  the GPU and the blob is copied back for it.

Pick it with :func:`create_yolov5_detector` (``device`` = ``auto``, ``cpu`` or ``cuda``).

Hand-written kernels rather than CuPy operations: the fused letterbox kernel takes 0.073 ms where
the same steps composed from CuPy take 1.344 ms (18x, benchmarks/RESULTS.md), and CuPy would be
one more large dependency on the Jetson.
"""
from __future__ import annotations

import logging
from typing import Any, Optional, Sequence, Set, Tuple

import cv2
import numpy as np

from .detections import Detections
from .letterbox import as_hw, letterbox_transform, LetterboxTransform, PAD_VALUE, SizeLike
from .yolov5 import select_detections, yolov5_candidates, YoloV5Detector
from ..engines.base import InferenceEngine
from ..engines.cuda_context import compile_module, CudaContext, resolve_device
from ..errors import ImageFormatError, ModelError

LOG = logging.getLogger(__name__)

#: Compiled by pycuda inside ``extern "C" { ... }`` (compile_module), so the names are plain.
KERNEL_SOURCE = r"""
// Letterbox one interleaved 8-bit 3-channel frame into a planar float32 (3, dst_h, dst_w) RGB
// blob scaled to 0..1. One thread per output pixel. Resize follows cv2.resize INTER_LINEAR:
// src = (dst + 0.5) * (src_size / new_size) - 0.5, and a coordinate left of the first or right
// of the last pixel is clamped to that pixel (weight 1).
__global__ void letterbox_u8c3_to_f32chw(
    const unsigned char* __restrict__ src, int src_w, int src_h, int src_pitch,
    float* __restrict__ dst, int dst_w, int dst_h,
    int pad_x, int pad_y, int new_w, int new_h,
    float src_per_dst_x, float src_per_dst_y, float pad_value, int swap_rb)
{
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= dst_w || y >= dst_h) return;
    const int plane = dst_w * dst_h;
    float* out = dst + y * dst_w + x;
    const int rx = x - pad_x;
    const int ry = y - pad_y;
    if (rx < 0 || ry < 0 || rx >= new_w || ry >= new_h) {
        out[0] = pad_value;
        out[plane] = pad_value;
        out[2 * plane] = pad_value;
        return;
    }
    float fx = (rx + 0.5f) * src_per_dst_x - 0.5f;
    int sx = (int)floorf(fx);
    fx -= sx;
    if (sx < 0) { sx = 0; fx = 0.f; }
    if (sx >= src_w - 1) { sx = src_w - 1; fx = 0.f; }
    // A tap of weight 0 re-reads the first pixel: with the frame in mapped host memory, exact
    // ratios (1920 -> 640) then fetch only the rows and columns they use.
    const int sx1 = fx > 0.f ? min(sx + 1, src_w - 1) : sx;
    float fy = (ry + 0.5f) * src_per_dst_y - 0.5f;
    int sy = (int)floorf(fy);
    fy -= sy;
    if (sy < 0) { sy = 0; fy = 0.f; }
    if (sy >= src_h - 1) { sy = src_h - 1; fy = 0.f; }
    const int sy1 = fy > 0.f ? min(sy + 1, src_h - 1) : sy;
    const unsigned char* row0 = src + (size_t)sy * src_pitch;
    const unsigned char* row1 = src + (size_t)sy1 * src_pitch;
    const int c0 = sx * 3;
    const int c1 = sx1 * 3;
    const float scale = 1.f / 255.f;
    #pragma unroll
    for (int c = 0; c < 3; ++c) {
        const float top = row0[c0 + c] + fx * ((float)row0[c1 + c] - (float)row0[c0 + c]);
        const float bottom = row1[c0 + c] + fx * ((float)row1[c1 + c] - (float)row1[c0 + c]);
        const float value = top + fy * (bottom - top);
        // Source channel c lands on plane 2 - c for BGR input (RGB output), on plane c for RGB.
        const int out_plane = swap_rb ? 2 - c : c;
        out[out_plane * plane] = value * scale;
    }
}

// A candidate is written as 8 x 32-bit words: x1, y1, x2, y2, score (float), class, row (int),
// unused. count[0] counts candidates, also those beyond capacity (the host then falls back).
__device__ __forceinline__ void write_candidate(
    float* __restrict__ records, int* __restrict__ count, int capacity, float cx, float cy,
    float half_w, float half_h, float score, int class_id, int row)
{
    const int slot = atomicAdd(count, 1);
    if (slot < capacity) {
        float* r = records + (size_t)slot * 8;
        r[0] = cx - half_w; r[1] = cy - half_h;
        r[2] = cx + half_w; r[3] = cy + half_h;
        r[4] = score;
        ((int*)r)[5] = class_id; ((int*)r)[6] = row; ((int*)r)[7] = 0;
    }
}

// YOLOv5 candidates: one warp per prediction row (cx, cy, w, h, objectness, C class scores).
__global__ void yolo_candidates_f32(
    const float* __restrict__ pred, int num_rows, int row_len, float conf_threshold,
    int multi_label, const unsigned char* __restrict__ class_mask,
    float* __restrict__ records, int* __restrict__ count, int capacity)
{
    const int row = (int)(((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5);
    const int lane = threadIdx.x & 31;
    if (row >= num_rows) return;  // uniform across the warp
    const float* p = pred + (size_t)row * row_len;
    const float objectness = p[4];
    if (!(objectness > conf_threshold)) return;  // uniform: the CPU's cheap pre-filter
    const int num_classes = row_len - 5;
    const float cx = p[0], cy = p[1], half_w = p[2] / 2.f, half_h = p[3] / 2.f;
    if (multi_label) {
        for (int c = lane; c < num_classes; c += 32) {
            const float score = p[5 + c] * objectness;
            if (score > conf_threshold && (class_mask == 0 || class_mask[c])) {
                write_candidate(records, count, capacity, cx, cy, half_w, half_h, score, c,
                                row);
            }
        }
        return;
    }
    // Best class; ties go to the lowest class index, like numpy's argmax.
    float best = -1.f;
    int best_class = 0x7fffffff;
    for (int c = lane; c < num_classes; c += 32) {
        const float score = p[5 + c] * objectness;
        if (score > best) { best = score; best_class = c; }
    }
    #pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        const float other = __shfl_down_sync(0xffffffffu, best, offset);
        const int other_class = __shfl_down_sync(0xffffffffu, best_class, offset);
        if (other > best || (other == best && other_class < best_class)) {
            best = other;
            best_class = other_class;
        }
    }
    if (lane == 0 && best > conf_threshold
            && (class_mask == 0 || class_mask[best_class])) {
        write_candidate(records, count, capacity, cx, cy, half_w, half_h, best, best_class, row);
    }
}
"""

LETTERBOX_BLOCK = (32, 8, 1)
DECODE_BLOCK = (256, 1, 1)
RECORD_WORDS = 8
RECORD_BYTES = RECORD_WORDS * 4
UPLOAD_MODES = ('auto', 'copy', 'mapped')


def _cuda() -> Any:
    import pycuda.driver as cuda
    return cuda


def _pointer(buffer: Any) -> int:
    """Device address of a pycuda allocation, a GPUArray, a CuPy array or a plain int."""
    if isinstance(buffer, (int, np.integer)):
        return int(buffer)
    if hasattr(buffer, 'gpudata'):  # pycuda GPUArray
        return int(buffer.gpudata)
    if hasattr(buffer, 'data') and hasattr(buffer.data, 'ptr'):  # CuPy array
        return int(buffer.data.ptr)
    return int(buffer)


def _check_frame(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 \
            or image.dtype != np.uint8:
        raise ImageFormatError(
            'expected an (H, W, 3) uint8 image, got %s %s'
            % (getattr(image, 'shape', None), getattr(image, 'dtype', type(image).__name__)))
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageFormatError('cannot letterbox an empty image (%dx%d)'
                               % (image.shape[1], image.shape[0]))


class CudaLetterbox:
    """
    GPU letterbox: uint8 BGR (or RGB) frame -> ``(1, 3, H, W)`` float32 RGB /255 blob.

    :meth:`enqueue` is asynchronous on :attr:`stream` and writes into any device buffer (an
    engine's input); calling the object returns a host blob (one synchronisation). Frames go
    through a page-locked staging buffer (one host copy of the frame). ``upload``:

    * ``copy`` -- one asynchronous upload of the frame, then the kernel (discrete GPUs);
    * ``mapped`` -- no upload: the staging buffer is mapped into the GPU's address space and the
      kernel reads the pixels it needs from it (zero-copy; on a Jetson, where CPU and GPU share
      the memory, this is the cheapest path);
    * ``auto`` -- ``mapped`` on an integrated GPU (Jetson), ``copy`` on a discrete one.

    Use it with the :class:`CudaContext` of ``device_id`` active (``with ctx.active():``).
    """

    def __init__(self, input_size: SizeLike = 640, device_id: int = 0, stream: Any = None,
                 rgb_input: bool = False, upload: str = 'auto') -> None:
        cuda = _cuda()
        if upload not in UPLOAD_MODES:
            raise ValueError("upload must be one of %s, not '%s'"
                             % (', '.join(UPLOAD_MODES), upload))
        self.input_hw = as_hw(input_size)
        self.device_id = device_id
        self.rgb_input = rgb_input
        if upload == 'auto':
            integrated = cuda.Context.get_device().get_attribute(
                cuda.device_attribute.INTEGRATED)
            upload = 'mapped' if integrated else 'copy'
        self.upload = upload
        self.stream = stream if stream is not None else cuda.Stream()
        module = compile_module(KERNEL_SOURCE, device_id)
        self._kernel = module.get_function('letterbox_u8c3_to_f32chw')
        self._kernel.prepare('PiiiPiiiiiifffi')
        self._staging: Optional[np.ndarray] = None
        self._frame_device: Any = None  # an allocation (copy) or None (mapped)
        self._frame_pointer = 0
        self._frame_capacity = 0
        self._blob_device: Any = None
        self._blob_host: Optional[np.ndarray] = None

    # -- buffers -------------------------------------------------------------------------------
    def _reserve_frame(self, nbytes: int) -> None:
        if nbytes <= self._frame_capacity:
            return
        cuda = _cuda()
        if self._frame_device is not None:
            self._frame_device.free()
            self._frame_device = None
        if self.upload == 'mapped':
            try:
                mapped: Any = cuda.pagelocked_empty(
                    nbytes, np.uint8, mem_flags=cuda.host_alloc_flags.DEVICEMAP)
                self._frame_pointer = int(mapped.base.get_device_pointer())
                self._staging = mapped
                self._frame_capacity = nbytes
                return
            except cuda.Error as exc:  # a context made without host mapping
                LOG.warning('cannot map page-locked memory into the GPU (%s): uploading '
                            'frames instead', exc)
                self.upload = 'copy'
        self._staging = cuda.pagelocked_empty(nbytes, np.uint8)
        self._frame_device = cuda.mem_alloc(nbytes)
        self._frame_pointer = int(self._frame_device)
        self._frame_capacity = nbytes

    def _stage(self, image: np.ndarray) -> None:
        """Copy ``image`` into the page-locked staging buffer (the one host copy per frame)."""
        self._reserve_frame(image.nbytes)
        assert self._staging is not None
        np.copyto(self._staging[:image.nbytes].reshape(image.shape), image)

    # -- work ----------------------------------------------------------------------------------
    def enqueue(self, image: np.ndarray, dst: Any) -> LetterboxTransform:
        """
        Letterbox ``image`` into device buffer ``dst`` (3*H*W float32), asynchronously.

        Returns the transform that maps boxes back to ``image`` pixels. The staging buffer is
        reused by the next call (and read by the kernel in ``mapped`` mode), so synchronise
        :attr:`stream` before then (one synchronisation per frame does it).
        """
        _check_frame(image)
        cuda = _cuda()
        src_h, src_w = int(image.shape[0]), int(image.shape[1])
        transform = letterbox_transform((src_h, src_w), self.input_hw)
        nbytes = src_h * src_w * 3
        self._stage(image)
        assert self._staging is not None
        if self.upload == 'copy':
            cuda.memcpy_htod_async(self._frame_device, self._staging[:nbytes], self.stream)
        new_w = int(round(src_w * transform.scale_x))
        new_h = int(round(src_h * transform.scale_y))
        dst_h, dst_w = self.input_hw
        grid = ((dst_w + LETTERBOX_BLOCK[0] - 1) // LETTERBOX_BLOCK[0],
                (dst_h + LETTERBOX_BLOCK[1] - 1) // LETTERBOX_BLOCK[1], 1)
        self._kernel.prepared_async_call(
            grid, LETTERBOX_BLOCK, self.stream,
            self._frame_pointer, src_w, src_h, src_w * 3,
            _pointer(dst), dst_w, dst_h,
            transform.pad_x, transform.pad_y, new_w, new_h,
            src_w / new_w, src_h / new_h, PAD_VALUE / 255.0, 0 if self.rgb_input else 1)
        return transform

    def __call__(self, image: np.ndarray) -> Tuple[np.ndarray, LetterboxTransform]:
        """Letterbox ``image`` into a host blob (a page-locked array reused by the next call)."""
        cuda = _cuda()
        dst_h, dst_w = self.input_hw
        if self._blob_device is None:
            self._blob_device = cuda.mem_alloc(3 * dst_h * dst_w * 4)
            self._blob_host = cuda.pagelocked_empty((1, 3, dst_h, dst_w), np.float32)
        transform = self.enqueue(image, self._blob_device)
        cuda.memcpy_dtoh_async(self._blob_host, self._blob_device, self.stream)
        self.stream.synchronize()
        assert self._blob_host is not None
        return self._blob_host, transform

    def close(self) -> None:
        """Free the buffers (with the context active)."""
        for allocation in (self._frame_device, self._blob_device):
            if allocation is not None:
                allocation.free()
        self._frame_device = self._blob_device = None
        self._staging = self._blob_host = None
        self._frame_pointer = self._frame_capacity = 0


class CudaYoloDecoder:
    """
    YOLOv5 confidence filter + box conversion on the GPU; NMS on the few survivors on the CPU.

    ``enqueue(prediction)`` runs on :attr:`stream` over a device buffer of ``(num_rows,
    row_len)`` float32 and starts copying back the candidate count and the first ``prefetch``
    candidates; after the stream is synchronised, :meth:`collect` returns
    ``(boxes_xyxy, scores, class_ids)`` exactly as :func:`yolov5_candidates` does on the CPU (same
    values, same order). ``conf_threshold``, ``multi_label`` and ``classes`` may be changed
    between frames.
    """

    def __init__(self, num_rows: int, row_len: int, conf_threshold: float = 0.25,
                 multi_label: bool = False, classes: Optional[Set[int]] = None,
                 capacity: Optional[int] = None, prefetch: int = 1024, device_id: int = 0,
                 stream: Any = None) -> None:
        cuda = _cuda()
        if num_rows <= 0 or row_len <= 5:
            raise ModelError('a YOLOv5 output needs rows of 5 + classes values, got (%d, %d)'
                             % (num_rows, row_len))
        self.num_rows = int(num_rows)
        self.row_len = int(row_len)
        self.num_classes = self.row_len - 5
        self.conf_threshold = conf_threshold
        self.multi_label = multi_label
        self.classes = classes
        self.device_id = device_id
        self.stream = stream if stream is not None else cuda.Stream()
        # Best-class mode yields at most one candidate a row; multi-label rarely more than a few
        # (beyond capacity the host decodes the whole output instead).
        self.capacity = int(capacity or self.num_rows * (4 if multi_label else 1))
        self.prefetch = max(1, min(int(prefetch), self.capacity))
        module = compile_module(KERNEL_SOURCE, device_id)
        self._kernel = module.get_function('yolo_candidates_f32')
        self._kernel.prepare('PiifiPPPi')
        # One allocation: a 32-byte header (the count) followed by the candidate records.
        self._records_device = cuda.mem_alloc((1 + self.capacity) * RECORD_BYTES)
        self._records_host = cuda.pagelocked_empty((1 + self.capacity, RECORD_WORDS), np.float32)
        self._mask_device: Any = None
        self._mask_classes: Optional[frozenset] = None
        self._prediction: Any = None
        self._conf_used = conf_threshold
        self._multi_label_used = multi_label
        self._classes_used: Optional[Set[int]] = classes

    def _class_mask(self) -> int:
        if self.classes is None:
            return 0
        wanted = frozenset(int(c) for c in self.classes)
        if wanted != self._mask_classes:
            mask = np.zeros(self.num_classes, np.uint8)
            valid = [c for c in wanted if 0 <= c < self.num_classes]
            mask[valid] = 1
            cuda = _cuda()
            if self._mask_device is None:
                self._mask_device = cuda.mem_alloc(self.num_classes)
            cuda.memcpy_htod(self._mask_device, mask)
            self._mask_classes = wanted
        return int(self._mask_device)

    def enqueue(self, prediction: Any) -> None:
        """Filter the device prediction buffer and start copying the candidates back (async)."""
        cuda = _cuda()
        self._prediction = prediction
        self._conf_used = float(self.conf_threshold)
        self._multi_label_used = bool(self.multi_label)
        self._classes_used = self.classes
        mask = self._class_mask()
        cuda.memset_d32_async(self._records_device, 0, 1, self.stream)
        threads = self.num_rows * 32
        grid = ((threads + DECODE_BLOCK[0] - 1) // DECODE_BLOCK[0], 1, 1)
        records = int(self._records_device) + RECORD_BYTES
        self._kernel.prepared_async_call(
            grid, DECODE_BLOCK, self.stream,
            _pointer(prediction), self.num_rows, self.row_len, self._conf_used,
            1 if self._multi_label_used else 0, mask, records, int(self._records_device),
            self.capacity)
        cuda.memcpy_dtoh_async(self._records_host[:1 + self.prefetch], self._records_device,
                               self.stream)

    def collect(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the last :meth:`enqueue`'s candidates, once its stream is synchronised."""
        count = int(self._records_host[:1].view(np.int32)[0, 0])
        if count > self.capacity:
            LOG.debug('%d candidates overflow the GPU buffer (%d): decoding on the CPU',
                      count, self.capacity)
            return self._decode_on_host()
        if count > self.prefetch:  # rare: a very low threshold; one more copy
            cuda = _cuda()
            cuda.memcpy_dtoh(self._records_host[1 + self.prefetch:1 + count],
                             int(self._records_device) + (1 + self.prefetch) * RECORD_BYTES)
        records = self._records_host[1:1 + count]
        words = records.view(np.int32)
        class_ids = words[:, 5].astype(np.int64)
        # Atomic appends come in any order; the CPU decode's order is by row, then class.
        order = np.argsort(words[:, 6].astype(np.int64) * self.num_classes + class_ids)
        records = records[order]
        return (np.ascontiguousarray(records[:, :4]), np.ascontiguousarray(records[:, 4]),
                class_ids[order])

    def _decode_on_host(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        cuda = _cuda()
        prediction = np.empty((self.num_rows, self.row_len), np.float32)
        cuda.memcpy_dtoh(prediction, _pointer(self._prediction))
        return yolov5_candidates(prediction, self._conf_used, self._multi_label_used,
                                 self._classes_used)

    def candidates(self, prediction: Any) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Enqueue, synchronise, collect: the candidates of one device prediction buffer."""
        self.enqueue(prediction)
        self.stream.synchronize()
        return self.collect()

    def close(self) -> None:
        """Free the device buffers (with the context active)."""
        for allocation in (self._records_device, self._mask_device):
            if allocation is not None:
                allocation.free()
        self._records_device = self._mask_device = None


def _static_dims(shape: Sequence[object]) -> Optional[Tuple[int, ...]]:
    """``shape`` as ints when every axis is a fixed positive size, else None."""
    dims = []
    for size in shape:
        if not isinstance(size, (int, np.integer)) or size <= 0:
            return None
        dims.append(int(size))
    return tuple(dims)


def _has_device_buffers(engine: InferenceEngine) -> bool:
    return all(hasattr(engine, name) for name in ('device_buffer', 'execute_async', 'stream'))


class CudaYoloV5Detector(YoloV5Detector):
    """
    :class:`YoloV5Detector` with GPU pre-processing (and, on TensorRT, GPU decoding).

    Same arguments and results as the CPU detector, plus ``device_id`` and ``upload`` (how
    frames reach the GPU, see :class:`CudaLetterbox`). Timings: ``pre``,
    ``infer`` and ``post`` (decode + NMS) are measured with CUDA events on the GPU path, so they
    add up to the frame's GPU time plus the host NMS.
    """

    def __init__(self, engine: InferenceEngine, class_names: Optional[Sequence[str]] = None,
                 conf_threshold: float = 0.25, iou_threshold: float = 0.45, max_det: int = 300,
                 multi_label: bool = False, classes: Optional[Set[int]] = None,
                 input_size: Optional[Tuple[int, int]] = None,
                 interpolation: int = cv2.INTER_LINEAR, device_id: int = 0,
                 upload: str = 'auto') -> None:
        super().__init__(engine, class_names, conf_threshold, iou_threshold, max_det,
                         multi_label, classes, input_size, interpolation)
        if interpolation != cv2.INTER_LINEAR:
            raise ValueError('the GPU letterbox resizes with INTER_LINEAR only: use device cpu '
                             'for another interpolation')
        context = getattr(engine, 'cuda_context', None)
        self._cuda = context if context is not None else CudaContext.get(device_id)
        self.device_resident = _has_device_buffers(engine)
        cuda = _cuda()
        with self._cuda.active():
            stream = engine.stream if self.device_resident else None  # type: ignore[attr-defined]
            self.stream = stream if stream is not None else cuda.Stream()
            self.letterbox = CudaLetterbox(self.input_hw, self._cuda.device_id, self.stream,
                                           upload=upload)
            self.decoder: Optional[CudaYoloDecoder] = None
            if self.device_resident:
                out_dims = self._check_engine_io()
                self.decoder = CudaYoloDecoder(
                    int(np.prod(out_dims[:-1])), out_dims[-1], conf_threshold, multi_label,
                    classes, device_id=self._cuda.device_id, stream=self.stream)
            self._events = [cuda.Event() for _ in range(4)]

    def _check_engine_io(self) -> Tuple[int, ...]:
        """Check the engine suits the GPU path; return its output shape."""
        spec_in, spec_out = self.engine.inputs[0], self.engine.outputs[0]
        if np.dtype(spec_in.dtype) != np.float32 or np.dtype(spec_out.dtype) != np.float32:
            raise ModelError('the GPU path needs float32 engine input and output (got %s -> %s): '
                             'rebuild the engine with float32 I/O, or set device to cpu'
                             % (spec_in.dtype, spec_out.dtype))
        shape_in = _static_dims(spec_in.shape)
        if shape_in != (1, 3) + tuple(self.input_hw):
            raise ModelError('the GPU path needs a (1, 3, %d, %d) input, the engine has %s: '
                             'set device to cpu' % (self.input_hw[0], self.input_hw[1],
                                                    spec_in.shape))
        shape_out = _static_dims(spec_out.shape)
        if shape_out is None or len(shape_out) < 2:
            raise ModelError('the GPU path needs a static (1, rows, 5 + classes) output, the '
                             'engine has %s: set device to cpu' % (spec_out.shape,))
        return shape_out

    def preprocess(self, image_bgr: np.ndarray) -> Tuple[np.ndarray, LetterboxTransform]:
        """Letterbox on the GPU into a page-locked host blob (valid until the next call)."""
        with self._cuda.active():
            return self.letterbox(image_bgr)

    def detect(self, image_bgr: np.ndarray) -> Detections:
        """Detect objects in one BGR uint8 image; boxes in its pixels."""
        if not self.device_resident:
            return super().detect(image_bgr)
        assert self.decoder is not None
        self.timings.reset()
        engine: Any = self.engine
        start, pre, infer, decode = self._events
        with self._cuda.active():
            self.decoder.conf_threshold = self.conf_threshold
            self.decoder.multi_label = self.multi_label
            self.decoder.classes = self.classes
            start.record(self.stream)
            transform = self.letterbox.enqueue(
                image_bgr, engine.device_buffer(self.engine.inputs[0].name))
            pre.record(self.stream)
            engine.execute_async()
            infer.record(self.stream)
            self.decoder.enqueue(engine.device_buffer(self.engine.outputs[0].name))
            decode.record(self.stream)
            self.stream.synchronize()  # the one synchronisation of the frame
            boxes, scores, class_ids = self.decoder.collect()
            self.timings.ms['pre'] = pre.time_since(start)
            self.timings.ms['infer'] = infer.time_since(pre)
            self.timings.ms['post'] = decode.time_since(infer)
        with self.timings.stage('post'):
            boxes, scores, class_ids = select_detections(
                boxes, scores, class_ids, self.iou_threshold, self.max_det)
            return Detections(transform.boxes_to_source(boxes), scores, class_ids,
                              self.class_names)

    __call__ = detect

    def close(self) -> None:
        with self._cuda.active():
            self.letterbox.close()
            if self.decoder is not None:
                self.decoder.close()
        super().close()


def create_yolov5_detector(engine: InferenceEngine, device: str = 'auto', device_id: int = 0,
                           **kwargs: Any) -> YoloV5Detector:
    """Make the detector for ``device`` (``auto``, ``cpu``, ``cuda``): GPU path or CPU."""
    if resolve_device(device) == 'cuda':
        return CudaYoloV5Detector(engine, device_id=device_id, **kwargs)
    return YoloV5Detector(engine, **kwargs)
