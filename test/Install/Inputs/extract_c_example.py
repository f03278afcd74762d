"""Prints the first ```c block of a Markdown file (the README's C example),
with the list item's indentation removed."""
import sys
import textwrap

lines = open(sys.argv[1]).read().splitlines()
start = next(i for i, l in enumerate(lines) if l.strip() == "```c")
end = next(i for i in range(start + 1, len(lines)) if lines[i].strip() == "```")
print(textwrap.dedent("\n".join(lines[start + 1:end])))
