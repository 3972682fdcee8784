#include "templates/python_packages.h"

#include <gtest/gtest.h>

namespace sbx::templates {
namespace {

TEST(PythonPackages, Normalize) {
  EXPECT_EQ(NormalizePythonName("Scikit_Learn"), "scikit-learn");
  EXPECT_EQ(NormalizePythonName("zope.interface"), "zope-interface");
  EXPECT_EQ(NormalizePythonName("a--b__c"), "a-b-c");
}

TEST(PythonPackages, DebianNames) {
  EXPECT_EQ(DebianNameForPython("numpy"), "python3-numpy");
  EXPECT_EQ(DebianNameForPython("Pandas"), "python3-pandas");
  EXPECT_EQ(DebianNameForPython("scikit-learn"), "python3-sklearn");
  EXPECT_EQ(DebianNameForPython("scikit_learn"), "python3-sklearn");
  EXPECT_EQ(DebianNameForPython("beautifulsoup4"), "python3-bs4");
  EXPECT_EQ(DebianNameForPython("PyYAML"), "python3-yaml");
  EXPECT_EQ(DebianNameForPython("Pillow"), "python3-pil");
  EXPECT_EQ(DebianNameForPython("python-dateutil"), "python3-dateutil");
  EXPECT_EQ(DebianNameForPython("matplotlib"), "python3-matplotlib");
  // Debian has one version: pinned or extra'd requirements are pip's.
  EXPECT_EQ(DebianNameForPython("numpy==1.26.0"), "");
  EXPECT_EQ(DebianNameForPython("requests[socks]"), "");
  EXPECT_EQ(DebianNameForPython("git+https://x/y"), "");
  EXPECT_EQ(DebianNameForPython(""), "");
}

TEST(PythonPackages, Plan) {
  std::set<std::string> available = {"python3-numpy", "python3-sklearn", "python3-pandas"};
  PythonPlan p = PlanPythonPackages(
      {"numpy", "scikit-learn", "torchvision-nope", "pandas==2.0", "NumPy"}, available);
  EXPECT_EQ(p.debian, (std::vector<std::string>{"python3-numpy", "python3-sklearn"}));
  EXPECT_EQ(p.pip, (std::vector<std::string>{"torchvision-nope", "pandas==2.0"}));
}

}  // namespace
}  // namespace sbx::templates
