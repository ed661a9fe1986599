#pragma once
// Moves batches to the device that trains or evaluates on them. On CUDA each batch is copied on a
// side stream (from pinned memory when the `batch` node wrote it there, so the copy is
// asynchronous) while the compute stream still runs the previous step; the compute stream waits
// for the copy through an event, and the device tensors are marked as used by the compute stream
// so the allocator does not hand their memory back to the copy stream too early. The host never
// waits for the GPU here. On the CPU a batch passes through unchanged.
#include "nodes/batch.h"

#include <c10/core/Device.h>

#include <memory>

namespace semiflow {

class DeviceFeed {
 public:
  explicit DeviceFeed(c10::Device device);
  ~DeviceFeed();
  DeviceFeed(const DeviceFeed&) = delete;
  DeviceFeed& operator=(const DeviceFeed&) = delete;

  // `batch` with its images, labels and soft targets on the device (paths and rows unchanged);
  // usable by work queued on the device's current stream from now on. On the CPU that is `batch`
  // itself; otherwise a copy held here until the next call.
  const Batch& to_device(const Batch& batch);

 private:
  struct CopyStream;  // CUDA builds only
  c10::Device device_;
  std::unique_ptr<CopyStream> copy_stream_;
  Batch on_device_;
};

// Whether batches should be written into page-locked (pinned) host memory: only where this build
// and machine have CUDA, as DataLoader(pin_memory=True) assumes.
bool pinned_memory_available();

}  // namespace semiflow
