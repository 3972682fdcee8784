// Python packages of a template: which Debian package provides a pip requirement, and the
// split between what apt installs and what pip must install.
//
// Debian names Python libraries python3-<name>, lowercased, with a few renames (scikit-learn
// is python3-sklearn, beautifulsoup4 python3-bs4, pyyaml python3-yaml, pillow python3-pil).
// A requirement with a version specifier or extras ("numpy==1.26", "requests[socks]") cannot
// be promised by Debian's single version and goes to pip.
//
// Thread safety: pure functions.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace sbx::templates {

// PEP 503 normalisation: lowercase, runs of '-', '_' and '.' become '-'.
std::string NormalizePythonName(std::string_view name);

// The Debian package that would provide `requirement`, or "" when Debian cannot (version
// specifiers, extras, URLs).
std::string DebianNameForPython(std::string_view requirement);

struct PythonPlan {
  std::vector<std::string> debian;  // Debian package names, in request order
  std::vector<std::string> pip;     // requirements for pip, in request order
};

// Splits `requirements` given the Debian package names that exist (`available`).
PythonPlan PlanPythonPackages(const std::vector<std::string>& requirements,
                              const std::set<std::string>& available);

}  // namespace sbx::templates
