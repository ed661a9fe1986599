#pragma once
// Runs pipeline configs given as YAML text and keeps what reaches `collect` sinks.
#include "graph/config.h"
#include "graph/node.h"
#include "graph/runtime.h"

#include <string>
#include <vector>

namespace semiflow::testing {

// Items received by the `collect` sink named `node`, in arrival order (serial sink: stream order).
std::vector<graph::Item>& collected(const std::string& node);

// Test node types: `collect` (a sink keeping what it receives) and `truncate` (passes the first
// `keep` items on: a stream cut short as a killed run's was, for resume tests).

// Parses `yaml` as if it were `dir`/pipeline.yaml, clears every collection, runs it.
graph::RunResult run_yaml(const std::string& yaml, const std::string& dir);

}  // namespace semiflow::testing

namespace semiflow::testing {

// Writes `count` size x size RGB JPEGs (image i filled with value 8 * (i % 32)), a two-level
// hierarchy (hierarchy.yaml: coarse a,b; fine a1,a2,b1,b2) and labeled.csv (image i has fine
// class i % 4; rows in `unknown_fine` have fine -1) plus unlabeled.csv into `dir`.
void write_tiny_dataset(const std::string& dir, int count, int size, const std::vector<int>& unknown_fine = {});

// A trivially separable set: fine class i % 4 is a colour (a1 red, a2 green, b1 blue, b2 grey),
// brightness varying with i; coarse a = {a1, a2}, b = {b1, b2}. Writes hierarchy.yaml,
// labeled.csv and test.csv (both listing every image) and unlabeled.csv (the same paths).
void write_colour_dataset(const std::string& dir, int count, int size);

}  // namespace semiflow::testing
