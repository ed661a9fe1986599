#pragma once
// The stream facts the built-in nodes state and read (graph/stream.h), each named once here, and
// the config-time checks several node types share.
#include "graph/params.h"
#include "graph/stream.h"

#include <cstdint>
#include <optional>
#include <string>

namespace semiflow::facts {

inline constexpr const char* kItemsPerEpoch = "items_per_epoch";    // samples a pass emits
inline constexpr const char* kEpochs = "epochs";                    // passes; absent: without end
inline constexpr const char* kStepSize = "step_size";               // samples that make one training step
inline constexpr const char* kStepsPerEpoch = "steps_per_epoch";    // batches a pass makes
inline constexpr const char* kBatchSize = "batch_size";
inline constexpr const char* kImageSize = "image_size";             // side of the (square) images
inline constexpr const char* kChannels = "channels";
inline constexpr const char* kMean = "mean";
inline constexpr const char* kStd = "std";
inline constexpr const char* kLabeledManifest = "labeled_manifest";  // every sample is a row of it (as written)
inline constexpr const char* kViews = "views";                      // 2: weak and strong views (two_view_source)

// A fact stated by `params`' node from its parameter `param`.
graph::StreamFact stated(const graph::Params& params, const std::string& param, graph::ParamValue value);
// The fact's value when the stream carries it with that type.
std::optional<std::int64_t> int_fact(const graph::StreamFacts& facts, const std::string& name);

// Rows of a manifest (counted, not validated: the node reading it does that), or nullopt when
// it cannot be read.
std::optional<std::int64_t> manifest_rows(const std::string& path);

// The file a path parameter names must exist now (not one a previous phase writes).
void require_file(const graph::Params& params, const std::string& param, graph::Diagnostics& out,
                  const std::string& what_to_do);
// A list of augment ops (datasets/transforms.h), each problem reported as "<param>[i] op: ...".
void check_ops(const graph::Params& params, const std::string& param, graph::Diagnostics& out);
// A `device` parameter: auto, cpu, cuda or cuda:N, and CUDA only where there is one.
void check_device(const graph::Params& params, graph::Diagnostics& out);
// Reports `precision` when the node's device cannot run it (fp16 on the CPU).
void check_precision(const graph::Params& params, graph::Diagnostics& out);

}  // namespace semiflow::facts
