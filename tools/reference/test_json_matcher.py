#!/usr/bin/env python3
"""Self-test of the {"$": "json"} matcher in run_vectors.py (no extension needed).

    python3 tools/reference/test_json_matcher.py
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_vectors as rv  # noqa: E402


def m(value, actual, captures=None):
    caps = {} if captures is None else captures
    ok, why = rv.match_value({"$": "json", "value": value}, actual, caps)
    return ok


class JsonMatcher(unittest.TestCase):
    def test_equal(self):
        self.assertTrue(m({"a": 1, "b": [1.5, "x", None, True, {}]}, '{"a":1,"b":[1.5,"x",null,true,{}]}'))
        self.assertTrue(m({"a": 1}, ' { "a" : 1 } '))  # whitespace is not compared

    def test_key_order(self):
        self.assertFalse(m({"a": 2, "b": 1}, '{"b":1,"a":2}'))
        self.assertFalse(m({"x": {"c": 3, "b": 2}}, '{"x":{"b":2,"c":3}}'))

    def test_keys_missing_extra_duplicate(self):
        self.assertFalse(m({"a": 1}, '{"a":1,"b":2}'))
        self.assertFalse(m({"a": 1, "b": 2}, '{"a":1}'))
        self.assertFalse(m({"a": 1}, '{"a":1,"a":1}'))

    def test_number_kind(self):
        self.assertFalse(m({"a": 1}, '{"a":1.0}'))
        self.assertFalse(m({"a": 1.0}, '{"a":1}'))
        self.assertTrue(m({"a": 100.0}, '{"a":1e2}'))
        self.assertFalse(m([1], '[true]'))
        self.assertFalse(m([True], '[1]'))
        self.assertFalse(m([1], '["1"]'))

    def test_arrays(self):
        self.assertFalse(m([1, 2], '[1]'))
        self.assertFalse(m([1], '[1,2]'))
        self.assertFalse(m([1, 2], '[2,1]'))

    def test_not_json_or_not_text(self):
        self.assertFalse(m({"a": 1}, '{"a":'))
        self.assertFalse(m({"a": 1}, None))
        self.assertFalse(m({"a": 1}, 5))
        self.assertFalse(m({"a": 1}, b'{"a":1}'))
        self.assertFalse(m(None, 'NaN'))

    def test_nested_matchers(self):
        caps = {}
        self.assertTrue(m({"t": {"$": "capture", "as": "t", "match": {"$": "int"}},
                           "u": {"$": "uuid4"}, "s": {"$": "regex", "pattern": "ab+"}, "x": {"$": "any"}},
                          '{"t":1795315176450000,"u":"8c9b5a3e-1f2a-4b3c-9d4e-5f6a7b8c9d0e","s":"abbb","x":[1,{"y":2}]}', caps))
        self.assertEqual(caps["t"], 1795315176450000)
        self.assertTrue(m([{"$": "ref", "name": "t"}], '[1795315176450000]', caps))
        self.assertFalse(m([{"$": "ref", "name": "t"}], '[1795315176451000]', caps))
        self.assertFalse(m([{"$": "ref", "name": "t"}], '[1795315176450000.0]', caps))
        self.assertFalse(m({"$": "int"}, '1.5'))
        self.assertFalse(m({"$": "int"}, 'true'))
        self.assertFalse(m({"$": "regex", "pattern": "1"}, '1'))
        # a value captured from JSON can be referenced at the top level (SQLite value)
        ok, _ = rv.match_value({"$": "ref", "name": "t"}, 1795315176450000, caps)
        self.assertTrue(ok)
        # a top-level capture can be referenced inside JSON
        caps2 = {}
        rv.match_value({"$": "capture", "as": "cid", "match": {"$": "uuid4"}}, "8c9b5a3e-1f2a-4b3c-9d4e-5f6a7b8c9d0e", caps2)
        self.assertTrue(m({"client_id": {"$": "ref", "name": "cid"}}, '{"client_id":"8c9b5a3e-1f2a-4b3c-9d4e-5f6a7b8c9d0e"}', caps2))

    def test_capture_object(self):
        caps = {}
        self.assertTrue(m({"o": {"$": "capture", "as": "o", "match": {"$": "any"}}}, '{"o":{"y":1,"x":2}}', caps))
        self.assertTrue(m([{"$": "ref", "name": "o"}], '[{"y":1,"x":2}]', caps))
        self.assertFalse(m([{"$": "ref", "name": "o"}], '[{"x":2,"y":1}]', caps))

    def test_format_validation(self):
        rv.check_value_format({"$": "json", "value": {"a": [{"$": "int"}, True, None]}}, "t", True)
        with self.assertRaises(rv.FormatError):
            rv.check_value_format({"$": "json"}, "t", True)
        with self.assertRaises(rv.FormatError):
            rv.check_value_format({"$": "json", "value": {"$": "bogus"}}, "t", True)
        with self.assertRaises(rv.FormatError):
            rv.check_value_format({"$": "int"}, "t", True)  # only inside json values
        with self.assertRaises(rv.FormatError):
            rv.check_value_format({"$": "json", "value": 1}, "t", False)  # not in params


if __name__ == "__main__":
    unittest.main()
