"""Accent folding in the query (folding.py): what a typed filter becomes. The real
Elasticsearch runs these expressions in test_browse.py."""

import pytest
from imgsim_search_api import folding


@pytest.mark.parametrize(
    ("typed", "folded"),
    [
        ("Dalí", "dali"),
        ("DÜRER", "durer"),
        ("Ærø", "aero"),
        ("Straße", "strasse"),
        ("Łódź", "lodz"),
        ("Șișmanu", "sismanu"),
        # Letters of other scripts keep their marks: "й" is not "и" with an accent.
        ("Дмитрий", "дмитрий"),
        ("plain 42", "plain 42"),
    ],
)
def test_folding_drops_latin_accents_and_case(typed: str, folded: str) -> None:
    assert folding.fold(typed) == folded


def test_each_letter_becomes_the_class_of_the_letters_that_fold_to_it() -> None:
    pattern = folding.accent_pattern("Dalí")

    assert pattern == ("[dÐðĎďĐđ][aÀÁÂÃÄÅàáâãäåĀāĂăĄą][lĹĺĻļĽľŁł][iÌÍÎÏìíîïĨĩĪīĬĭĮįİı]")


def test_two_letters_a_ligature_stands_for_match_it_too() -> None:
    assert folding.accent_pattern("ss") == "([sŚśŜŝŞşŠšſșȘ][sŚśŜŝŞşŠšſșȘ]|[ßẞ])"
    assert folding.accent_pattern("æ").endswith("|[æÆ])")


def test_everything_but_letters_and_digits_is_escaped() -> None:
    # Lucene's operators as text: a quote, wildcards, a group, an interval, a class.
    assert folding.accent_pattern('"*?(<1-2>)[x]') == '\\"\\*\\?\\(\\<1\\-2\\>\\)\\[x\\]'


def test_the_query_matches_the_whole_value_or_the_start_of_any_word() -> None:
    query = folding.word_start_query("metadata.artist", "  mo ")

    regexp = query["regexp"]["metadata.artist"]
    assert regexp["value"] == "(.*[\\ \\-\\(\\/\\'\\’])?m[oÒÓÔÕÖØòóôõöøŌōŎŏŐő].*"
    # Optional operators (intervals, complements, `@`) are off: the text cannot turn them on.
    assert regexp["flags"] == "NONE" and regexp["case_insensitive"] is True


def test_a_value_too_long_to_spell_out_is_matched_by_case_alone() -> None:
    value = "a" * 60  # each `a` is a class of 21 letters: past Elasticsearch's 1000 characters

    query = folding.word_start_query("metadata.title", value)

    assert "regexp" not in query
    should = query["bool"]["should"]
    assert should[0] == {"prefix": {"metadata.title": {"value": value, "case_insensitive": True}}}
    assert should[1]["wildcard"]["metadata.title"]["value"] == f"* {value}*"
