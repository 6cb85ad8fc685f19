"""Validates XML documents against an XML Schema with lxml (an independent XSD processor).

Usage: validate_xsd.py SCHEMA.xsd DOC.xml...
Prints "VALID <doc>" or "INVALID <doc> <errors>" per document; exits 1 if any is invalid.
"""
import sys

from lxml import etree


def main():
    schema = etree.XMLSchema(etree.parse(sys.argv[1]))
    bad = 0
    for path in sys.argv[2:]:
        doc = etree.parse(path)
        if schema.validate(doc):
            print("VALID", path)
        else:
            bad += 1
            errors = "; ".join(str(e) for e in schema.error_log)
            print("INVALID", path, errors)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
