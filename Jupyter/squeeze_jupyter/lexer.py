"""Pygments lexer for squeeze recipes (.recipe files and squeeze notebook cells)."""
from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Text, Whitespace


class SqueezeLexer(RegexLexer):
    name = "squeeze"
    aliases = ["squeeze", "recipe"]
    filenames = ["*.recipe"]
    mimetypes = ["text/x-squeeze-recipe"]

    tokens = {
        "root": [
            (r"\s+", Whitespace),
            (r"# %%.*$", Comment.Special),  # a cell marker
            (r"#.*$", Comment.Single),
            (r'"', String.Double, "string"),
            (r"(fn)(\s+)([A-Za-z_]\w*)", bygroups(Keyword, Whitespace, Name.Function)),
            (words(("fn", "return", "if", "else", "for", "in", "while", "break", "continue", "param"), suffix=r"\b"), Keyword),
            (words(("and", "or", "not"), suffix=r"\b"), Operator.Word),
            (words(("true", "false", "none"), suffix=r"\b"), Keyword.Constant),
            # A named argument or record field: `bits: 4`.
            (r"([A-Za-z_]\w*)(\s*)(:)(?!:)", bygroups(Name.Attribute, Whitespace, Punctuation)),
            # A call, dotted namespaces included: `plot.line(`.
            (r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(?=\s*\()", Name.Function),
            (r"[A-Za-z_]\w*", Name),
            (r"(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?", Number),
            (r"\*\*|==|!=|<=|>=|[-+*/%@<>=!]", Operator),
            (r"[()\[\]{},.;]", Punctuation),
            (r".", Text),
        ],
        "string": [
            (r'\\\(', String.Interpol, "interpolation"),
            (r'\\.', String.Escape),
            (r'"', String.Double, "#pop"),
            (r'[^"\\]+', String.Double),
        ],
        "interpolation": [
            (r"\)", String.Interpol, "#pop"),
            (r"[^)]+", Text),
        ],
    }
