// loftlab generate --model SRC --tokenizer TOK --steps N [--prompt TEXT]: greedy continuation of
// a prompt by a Llama checkpoint (llama2c:, hf:, pretrained:NAME), streamed to stdout.
#include <fmt/format.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>

#include "common/error.hpp"
#include "experiments/cli/commands.hpp"
#include "experiments/cli/options.hpp"
#include "io/source.hpp"
#include "model/generate.hpp"
#include "model/token_data.hpp"
#include "text/tokenizer.hpp"

namespace po = boost::program_options;

namespace loft::cli {

int cmd_generate(int argc, char** argv) {
  std::string model_spec, tok_spec, prompt;
  int steps = 0;
  po::options_description desc(
      "usage: loftlab generate --model SRC [--tokenizer TOK] [--steps N] [--prompt TEXT]\n\n"
      "Prints the prompt and its greedy (argmax) continuation, token by token. Generation stops\n"
      "after N tokens or at the end-of-text token.\n\n"
      "example: loftlab generate --model llama2c:../shared/data/stories260K.bin \\\n"
      "           --tokenizer ../shared/data/tok512.bin --steps 40\n\noptions");
  desc.add_options()("help,h", "print this help")(
      "model,m", po::value(&model_spec), ("checkpoint: " + io::source_forms(true)).c_str())(
      "tokenizer,t", po::value(&tok_spec)->default_value("auto"),
      "llama2c:FILE (or a .bin path) or byte; auto = byte for pretrained:NAME")(
      "steps,n", po::value(&steps)->default_value(256), "tokens to generate")(
      "prompt,p", po::value(&prompt)->default_value(""), "text to continue (default: none)");
  if (!parse_command_line(argc, argv, desc, "generate")) return 0;
  if (model_spec.empty()) fail("--model is required (see loftlab generate --help)");
  if (steps < 0 || steps > (1 << 20)) fail("--steps {} must be in 0..{}", steps, 1 << 20);
  const auto tok = text::open_tokenizer(model::resolve_tokenizer(model_spec, tok_spec));
  auto m = model::load_llama(model_spec);
  if (tok->vocab_size() > m.cfg.vocab_size)
    fail("tokenizer '{}' has {} tokens but model '{}' only {}: they do not belong together",
         tok->describe(), tok->vocab_size(), model_spec, m.cfg.vocab_size);
  const auto ids = tok->encode(prompt, true, false);
  std::vector<int32_t> ctx(ids.begin(), ids.end());
  fmt::print("{}", tok->decode(ids));
  std::fflush(stdout);
  int prev = ids.back();
  // One token at a time so the text appears as it is produced.
  for (int s = 0; s < steps; ++s) {
    const int32_t next = model::greedy(m, ctx, 1).front();
    if (next == tok->eos() || next == tok->bos()) break;
    fmt::print("{}", tok->decode_piece(prev, next));
    std::fflush(stdout);
    ctx.push_back(next);
    prev = next;
  }
  fmt::print("\n");
  return 0;
}

}  // namespace loft::cli
