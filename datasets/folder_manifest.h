#pragma once
// Builds a manifest from a folder tree with one folder level per hierarchy level:
// root/<level-0 class>/<level-1 class>/.../image.jpg. An image placed higher up in the tree
// is labeled only down to its folder's level (finer levels -1).
#include "datasets/hierarchy.h"
#include "datasets/manifest.h"

#include <string>
#include <vector>

namespace semiflow {

// Rows sorted by path; paths are written relative to `manifest_dir`.
std::vector<ManifestRow> scan_image_folders(const std::string& root, const Hierarchy& hierarchy, const std::string& manifest_dir);

}  // namespace semiflow
