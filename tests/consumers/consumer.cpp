// The program every consumer project builds: it compiles only if the package gives the right
// include path and C++ standard, and returns non-zero if the headers it got misbehave.
#include <per/per.hpp>

#include <cstdio>

int main() {
    per::sum_tree<double> tree(5);
    tree.set(0, 1.0);
    tree.set(2, 2.0);
    tree.set(4, 1.0);

    // Leaf i owns [sum of leaves before i, that sum + leaf i); empty leaves own nothing.
    bool ok = tree.total() == 4.0;
    ok = ok && tree.find_prefix(0.0) == 0 && tree.find_prefix(0.5) == 0;
    ok = ok && tree.find_prefix(1.0) == 2 && tree.find_prefix(2.5) == 2;
    ok = ok && tree.find_prefix(3.0) == 4 && tree.find_prefix(3.75) == 4;

    std::printf("per %s consumer: %s\n", PER_VERSION_STRING, ok ? "ok" : "WRONG RESULTS");
    return ok ? 0 : 1;
}
