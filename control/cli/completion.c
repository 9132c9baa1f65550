/* SPDX-License-Identifier: MIT */
/*
 * completion.c: `dpmailctl completion bash` prints a completion function whose command list
 * is generated from the grammar table, so completion never drifts from what the CLI accepts.
 */
#include "cli/cli.h"
#include "ctl/grammar.h"

static const char completion_body[] =
	"_dpmailctl() {\n"
	"  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
	"  local i j w n ok p pw words=() cands=() skip=0\n"
	"  if [[ $prev == -s ]]; then COMPREPLY=( $(compgen -f -- \"$cur\") ); return; fi\n"
	"  for ((i = 1; i < COMP_CWORD; i++)); do\n"
	"    w=${COMP_WORDS[i]}\n"
	"    if ((skip)); then skip=0; continue; fi\n"
	"    case $w in -s) skip=1 ;; -*) ;; *) words+=(\"$w\") ;; esac\n"
	"  done\n"
	"  n=${#words[@]}\n"
	"  for p in \"${_dpmailctl_grammar[@]}\"; do\n"
	"    read -ra pw <<<\"$p\"\n"
	"    ((n < ${#pw[@]})) || continue\n"
	"    ok=1\n"
	"    for ((j = 0; j < n; j++)); do\n"
	"      case ${pw[j]} in '<'*|'['*) ;; *) [[ ${pw[j]} == \"${words[j]}\" ]] || { ok=0; break; } ;; esac\n"
	"    done\n"
	"    ((ok)) || continue\n"
	"    case ${pw[n]} in\n"
	"      '<level>'|'[<level>]') cands+=(err warn info debug) ;;\n"
	"      '<file>') COMPREPLY=( $(compgen -f -- \"$cur\") ); return ;;\n"
	"      '<'*|'['*) ;;\n"
	"      *) cands+=(\"${pw[n]}\") ;;\n"
	"    esac\n"
	"  done\n"
	"  [[ $cur == -* ]] && cands+=(-s --json --help)\n"
	"  COMPREPLY=( $(compgen -W \"${cands[*]}\" -- \"$cur\") )\n"
	"}\n"
	"complete -F _dpmailctl dpmailctl\n";

void ctl_cli_completion_bash(FILE *out)
{
	size_t n;
	const struct ctl_cmd_def *g = ctl_grammar(&n);
	fputs("# bash completion for dpmailctl, generated from its grammar: eval \"$(dpmailctl "
	      "completion bash)\"\n_dpmailctl_grammar=(\n", out);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "  '%s'\n", g[i].pattern);
	fputs("  'completion bash'\n  'help'\n)\n", out);
	fputs(completion_body, out);
}
