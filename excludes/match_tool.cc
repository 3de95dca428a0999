// Test tool for git_differential_test.py: reads rules from the file argv[1], then paths from
// stdin, one per line, "d <path>" for a directory or "f <path>" otherwise; prints one line per
// path: 1 if excluded, 0 if kept. On a bad rule prints "ERR <message>" and stops.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "excludes/excludes.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: excludes_match RULES_FILE < paths\n";
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::stringstream rules;
  rules << in.rdbuf();
  rw::ExcludeSet set;
  rw::Status s = set.AddLines(rules.str(), argv[1]);
  if (!s.ok()) {
    std::cout << "ERR " << s.message() << "\n";
    return 0;
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.size() < 2) continue;
    std::cout << (set.Match(line.substr(2), line[0] == 'd') >= 0 ? 1 : 0) << "\n";
  }
  return 0;
}
