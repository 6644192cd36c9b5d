# Turns every ```cpp block of README.md into a function of one C++ file, so
# the README's examples are compiled (with -Werror) and cannot rot:
# #include lines go to the top, the rest of block N becomes the body of
# readme_snippet_N(). Names a snippet takes as given are declared in
# readme_prelude.hpp. usage: awk -v out=FILE -f readme_snippets.awk README.md
/^```cpp[ \t]*$/ { in_block = 1; n++; body[n] = ""; next }
in_block && /^```[ \t]*$/ { in_block = 0; next }
in_block && /^#include/ { includes = includes $0 "\n"; next }
in_block { body[n] = body[n] $0 "\n" }
END {
  if (n == 0) { print "no ```cpp block found" > "/dev/stderr"; exit 1 }
  printf "// Generated from README.md by readme_snippets.awk: do not edit.\n" > out
  printf "#include \"readme_prelude.hpp\"\n%s\n", includes > out
  for (i = 1; i <= n; i++) printf "void readme_snippet_%d() {\n%s}\n\n", i, body[i] > out
  printf "int main(int argc, char**) {\n  // Linked, never run: the snippets are examples, not tests.\n  if (argc > 1000) {\n" > out
  for (i = 1; i <= n; i++) printf "    readme_snippet_%d();\n", i > out
  printf "  }\n  return 0;\n}\n" > out
}
