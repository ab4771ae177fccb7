"""papermill parameters for squeeze notebooks.

papermill writes the values given with `-p name value` into a cell it inserts after the cell tagged
`parameters`, in the notebook kernel's language. For squeeze it writes `param name = value` lines:
in a kernel session a later `param` line for a name the parameters cell declared overrides it, and
the history records the value as an override of the cell's default, as `squeeze run -p` does.

papermill finds translators by kernel or language name in a registry filled in Python, so the
`squeeze-papermill` command is papermill's own command line with this translator registered:

    squeeze-papermill Examples/quickstart.ipynb out.ipynb -p rank 8
"""
import re
import sys

from papermill.translators import Translator, papermill_translators

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SqueezeTranslator(Translator):
    @classmethod
    def translate_none(cls, val):
        return "none"

    @classmethod
    def translate_bool(cls, val):
        return "true" if val else "false"

    @classmethod
    def translate_float(cls, val):
        if val != val:
            return "nan"
        if val in (float("inf"), float("-inf")):
            return "inf" if val > 0 else "-inf"
        return repr(val)

    @classmethod
    def translate_escaped_str(cls, str_val):
        # squeeze strings: \" \\ \n \t \r \0 escapes; `\(` starts an interpolation, so a backslash
        # is always escaped.
        s = str(str_val).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
        return f'"{s}"'

    @classmethod
    def translate_list(cls, val):
        return "[" + ", ".join(cls.translate(v) for v in val) + "]"

    @classmethod
    def translate_dict(cls, val):
        fields = []
        for k, v in val.items():
            key = str(k)
            if not NAME.match(key):
                raise ValueError(f"record field names are identifiers; {key!r} is not")
            fields.append(f"{key}: {cls.translate(v)}")
        return "{" + ", ".join(fields) + "}"

    @classmethod
    def comment(cls, cmt_str):
        return f"# {cmt_str}".strip()

    @classmethod
    def assign(cls, name, str_val):
        return f"param {name} = {str_val}"


def register():
    papermill_translators.register("squeeze", SqueezeTranslator)


def main():
    register()
    from papermill.cli import papermill as cli

    sys.exit(cli(prog_name="squeeze-papermill"))


if __name__ == "__main__":
    main()
