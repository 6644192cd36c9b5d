// Imports bridge_parser.cpp declares, for Emscripten's link step. The package does
// not use Emscripten's JS glue: js/src/wasm.cjs provides them.
mergeInto(LibraryManager.library, {
  ssekit_take: function () {},
});
