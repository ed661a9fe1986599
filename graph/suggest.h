#pragma once
// "Did you mean" for names a user mistyped: node types, parameters, choices, ops, config keys.
#include <string>
#include <vector>

namespace semiflow::graph {

// " (did you mean 'cosine'?)" when one candidate is within a few edits of `word`; "" otherwise.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace semiflow::graph
