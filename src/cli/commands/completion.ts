import type { Command } from 'commander';
import { EXIT } from '../exit-codes.js';

/** Each command's name and flags, from the program itself, so completion never lags behind it. */
function commandTable(program: Command): { name: string; flags: string[] }[] {
  return program.commands
    .filter((c) => c.name() !== 'completion')
    .map((c) => ({
      name: c.name(),
      flags: [
        ...c.options.flatMap((o) => [o.short, o.long].filter((f): f is string => f !== undefined)),
        '--help',
      ],
    }));
}

function bash(bin: string, program: Command): string {
  const table = commandTable(program);
  const fn = `_${bin.replace(/[^A-Za-z0-9]/g, '_')}`;
  const cases = table.map((c) => `    ${c.name}) flags="${c.flags.join(' ')}" ;;`).join('\n');
  return `# ${bin} completion for bash; add to ~/.bashrc: source <(${bin} completion bash)
${fn}() {
  local cur=\${COMP_WORDS[COMP_CWORD]} cmd=\${COMP_WORDS[1]} flags=""
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${table.map((c) => c.name).join(' ')} --version --help" -- "$cur"))
    return
  fi
  case "$cmd" in
${cases}
  esac
  if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "$flags" -- "$cur")); else COMPREPLY=($(compgen -f -- "$cur")); fi
}
complete -F ${fn} ${bin}
`;
}

function fish(bin: string, program: Command): string {
  const lines = [
    `# ${bin} completion for fish: ${bin} completion fish > ~/.config/fish/completions/${bin}.fish`,
  ];
  for (const c of commandTable(program)) {
    lines.push(`complete -c ${bin} -n __fish_use_subcommand -a ${c.name}`);
    for (const flag of c.flags.filter((f) => f.startsWith('--'))) {
      lines.push(`complete -c ${bin} -n '__fish_seen_subcommand_from ${c.name}' -l ${flag.slice(2)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** `canaria completion bash|zsh|fish`: a script that completes commands and their flags. */
export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script: bash, zsh or fish')
    .argument('<shell>', 'bash, zsh or fish')
    .action((shell: string) => {
      const root = program;
      const bin = root.name() === 'kubectl canaria' ? 'kubectl-canaria' : 'canaria';
      if (shell === 'bash') process.stdout.write(bash(bin, root));
      else if (shell === 'zsh')
        process.stdout.write(`autoload -U +X bashcompinit && bashcompinit\n${bash(bin, root)}`);
      else if (shell === 'fish') process.stdout.write(fish(bin, root));
      else {
        console.error(`completion: "${shell}" is not a shell this supports; use bash, zsh or fish`);
        process.exitCode = EXIT.usage;
      }
    });
}
