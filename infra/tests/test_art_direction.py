"""The processor's variants from the stack (Variants, PictureMedia, Faces): passed to the function
as VARIANTS, PICTURE_MEDIA and FACES, with the defaults docs/configuration.md gives (the function's own when
unset), and patterns that take art-directed variants and refuse what the function would."""
import pathlib
import re

import cfn

TEMPLATE = cfn.rendered()
PARAMETERS = TEMPLATE["Parameters"]
DOCS = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()


def documented_default(variable):
    (row,) = [line for line in DOCS.splitlines() if line.startswith(f"| `{variable}` |")]
    return row.split("|")[2].strip().strip("`")


def test_the_function_gets_them_with_the_documented_defaults():
    env = TEMPLATE["Resources"]["ImageProcessorFunction"]["Properties"]["Environment"]["Variables"]
    assert env["VARIANTS"] == {"Ref": "Variants"} and env["PICTURE_MEDIA"] == {"Ref": "PictureMedia"}
    assert PARAMETERS["Variants"]["Default"] == documented_default("VARIANTS")
    assert PARAMETERS["PictureMedia"]["Default"] == documented_default("PICTURE_MEDIA")
    assert env["FACES"] == {"Ref": "Faces"} and PARAMETERS["Faces"]["Default"] == documented_default("FACES")
    assert PARAMETERS["Faces"]["AllowedValues"] == ["on", "off"]


def test_the_patterns_take_shapes_and_refuse_what_the_function_would():
    variants = PARAMETERS["Variants"]["AllowedPattern"]
    for good in ["thumbnail:200:1x1,mobile:640:4x5,tablet:1024,pc:1920", "pc:1920", "hero-wide:1920:16x9"]:
        assert re.fullmatch(variants, good), good
    for bad in ["", "mobile:640:4by5", "mobile", "mobile:640:4x5:1", "a b:10", "pc:1920,", "mobile:640:4x"]:
        assert not re.fullmatch(variants, bad), bad
    media = PARAMETERS["PictureMedia"]["AllowedPattern"]
    assert re.fullmatch(media, "mobile=(max-width: 640px);tablet=(min-width: 641px) and (max-width: 1024px)")
    assert re.fullmatch(media, "")
    assert not re.fullmatch(media, 'mobile=(max-width: 640px)"><script>')
