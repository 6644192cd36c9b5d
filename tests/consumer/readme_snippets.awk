# Turns the ```cpp blocks of README.md into programs of one C++ file, so the
# README's examples are compiled (with -Werror) and cannot rot. A block
# with #include lines starts a program; the blocks after it without any
# continue it (as a reader reads them). The program that starts at block N
# is compiled when README_PROGRAM == N (CMakeLists.txt builds one
# executable per block; numbers that start no program give an empty one):
# its #include lines first, then each block as the body of
# readme_snippet_N(). Besides the snippets' own #include lines a program
# gets only readme_prelude.hpp: the standard headers and the names a
# snippet takes as given, so a snippet that needs a Boost or ssekit header
# it does not include fails here as it fails its reader.
# usage: awk -v out=FILE -f readme_snippets.awk README.md
/^```cpp[ \t]*$/ { in_block = 1; n++; body[n] = ""; start[n] = (n == 1); next }
in_block && /^```[ \t]*$/ { in_block = 0; next }
in_block && /^#include/ {
  if (body[n] != "") { printf "README.md block %d: an #include after code\n", n > "/dev/stderr"; exit 1 }
  start[n] = 1; includes[n] = includes[n] $0 "\n"; next
}
in_block { body[n] = body[n] $0 "\n" }
END {
  if (n == 0) { print "no ```cpp block found" > "/dev/stderr"; exit 1 }
  printf "// Generated from README.md by readme_snippets.awk: do not edit.\n" > out
  for (i = 1; i <= n; i = j) {
    for (j = i + 1; j <= n && !start[j]; j++) {}
    printf "\n#if README_PROGRAM == %d  // README.md blocks %d to %d\n#define README_PROGRAM_FOUND\n", i, i, j - 1 > out
    printf "#include \"readme_prelude.hpp\"\n%s\n", includes[i] > out
    for (k = i; k < j; k++) printf "void readme_snippet_%d() {\n%s}\n\n", k, body[k] > out
    printf "int main(int argc, char**) {\n  // Linked, never run: the snippets are examples, not tests.\n  if (argc > 1000) {\n" > out
    for (k = i; k < j; k++) printf "    readme_snippet_%d();\n", k > out
    printf "  }\n  return 0;\n}\n#endif\n" > out
  }
  printf "\n#ifndef README_PROGRAM_FOUND\nint main() { return 0; }  // this block continues a program\n#endif\n" > out
}
