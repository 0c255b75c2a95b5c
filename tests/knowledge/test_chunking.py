"""The chunker alone: overlap, word and sentence boundaries, headings, pages, PDF text."""

from __future__ import annotations

import itertools
import re

from knowledge.chunking import OVERLAP_TOKENS, TARGET_TOKENS, ChunkDraft, chunk_pages
from knowledge.extract import Page, normalise_pdf_text
from luxx.text import estimate_tokens

WORDS = ["river", "carries", "silt", "toward", "the", "delta", "where", "farmers", "plant", "rice", "and", "wheat"]
WORDS += ["in", "alternating", "seasons", "while", "engineers", "measure"]
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def english_sentence(number: int, length: int) -> str:
    words = [WORDS[(number * 7 + k * 3) % len(WORDS)] for k in range(length)]
    return f"Sentence {number} says " + " ".join(words) + "."


def english_text(paragraphs: int = 12) -> str:
    """Ordinary prose: paragraphs of 4 to 8 sentences of 12 to 26 words (about 20-40 tokens)."""
    blocks, number = [], 0
    for p in range(paragraphs):
        sentences = []
        for _ in range(4 + p % 5):
            sentences.append(english_sentence(number, 10 + number % 15))
            number += 1
        blocks.append(" ".join(sentences))
    return "\n\n".join(blocks)


def chinese_text(paragraphs: int = 12) -> str:
    """Paragraphs of 5 to 11 Chinese sentences of about 25 to 35 characters each."""
    clauses = ["知识库把长文档切分成合适的段落", "检索时先找到最相关的片段", "再把它们交给模型回答问题", "每个片段都记得自己的标题"]
    blocks = []
    for p in range(paragraphs):
        sentences = [f"第{p}段第{s}句说明{clauses[(p + s) % 4]}，并且{clauses[(p + 2 * s + 1) % 4]}。" for s in range(5 + p % 7)]
        blocks.append("".join(sentences))
    return "\n\n".join(blocks)


def shared_text(text: str, first: ChunkDraft, second: ChunkDraft) -> str:
    return text[second.char_start : first.char_end] if second.char_start < first.char_end else ""


def starts_inside_a_word(text: str, position: int) -> bool:
    """A position between two letters or digits of one (non-CJK) word."""
    if position in (0, len(text)):
        return False
    before, after = text[position - 1], text[position]
    return before.isalnum() and after.isalnum() and not CJK.match(before) and not CJK.match(after)


def test_consecutive_chunks_of_english_prose_share_about_fifteen_percent() -> None:
    text = english_text()

    drafts = chunk_pages([Page(text, None)], markdown=False)

    assert len(drafts) >= 4
    for first, second in itertools.pairwise(drafts):
        shared = shared_text(text, first, second)
        assert first.content.endswith(shared) and second.content.startswith(shared)
        assert 0.10 * TARGET_TOKENS <= estimate_tokens(shared) <= 0.20 * TARGET_TOKENS
        assert second.content.startswith("Sentence ")
    assert all(estimate_tokens(d.content) <= TARGET_TOKENS + 15 for d in drafts)


def test_consecutive_chunks_of_chinese_prose_share_about_fifteen_percent_in_whole_sentences() -> None:
    text = chinese_text()

    drafts = chunk_pages([Page(text, None)], markdown=False)

    assert len(drafts) >= 4
    for first, second in itertools.pairwise(drafts):
        shared = shared_text(text, first, second)
        assert 0.10 * TARGET_TOKENS <= estimate_tokens(shared) <= 0.20 * TARGET_TOKENS
        assert second.content.startswith(shared) and shared.startswith("第") and shared.endswith("。")
    assert all(d.content.startswith("第") and d.content.endswith("。") for d in drafts)
    assert all(estimate_tokens(d.content) <= TARGET_TOKENS + 15 for d in drafts)


def test_no_chunk_starts_or_ends_inside_a_word() -> None:
    # Long sentences force the partial-sentence overlap, and one run-on sentence of 1,200
    # words forces a cut inside a sentence.
    long_sentences = " ".join(english_sentence(n, 120) for n in range(9))
    run_on = "Then " + " ".join(WORDS[k % len(WORDS)] for k in range(1200)) + "."
    text = f"{english_text(4)}\n\n{long_sentences}\n\n{run_on}"

    drafts = chunk_pages([Page(text, None)], markdown=False)

    assert len(drafts) >= 8
    assert [d for d in drafts if starts_inside_a_word(text, d.char_start) or starts_inside_a_word(text, d.char_end)] == []
    assert all(d.content == text[d.char_start : d.char_end] and d.content == d.content.strip() for d in drafts)
    assert all(estimate_tokens(d.content) <= TARGET_TOKENS + 15 for d in drafts)


def test_when_the_last_sentence_is_over_the_overlap_budget_the_overlap_is_its_tail_from_a_word_start() -> None:
    text = " ".join(english_sentence(n, 110) for n in range(8))  # one paragraph of ~150-token sentences

    drafts = chunk_pages([Page(text, None)], markdown=False)

    assert len(drafts) >= 3
    for first, second in itertools.pairwise(drafts):
        shared = shared_text(text, first, second)
        assert OVERLAP_TOKENS - 5 <= estimate_tokens(shared) <= OVERLAP_TOKENS
        assert text[second.char_start - 1] == " " and not shared.startswith("Sentence ")


def test_a_chinese_sentence_over_a_chunk_is_cut_after_a_comma_not_mid_phrase() -> None:
    text = "，".join(f"第{i}个分句描述知识库的切分规则" for i in range(80)) + "。"

    drafts = chunk_pages([Page(text, None)], markdown=False)

    assert len(drafts) >= 3
    assert all(estimate_tokens(d.content) <= TARGET_TOKENS for d in drafts)
    assert all(text[d.char_end - 1] in "，。" for d in drafts)


def test_the_overlap_never_carries_one_sections_text_into_the_next() -> None:
    one, two = english_text(5), english_text(6).replace("Sentence", "Line")
    text = f"# One\n\n{one}\n\n# Two\n\n{two}\n"

    drafts = chunk_pages([Page(text, None)], markdown=True)
    first_of_two = next(d for d in drafts if d.heading == "Two")

    headings = [d.heading for d in drafts]
    assert headings == ["One"] * headings.count("One") + ["Two"] * headings.count("Two")
    assert headings.count("One") >= 2 and headings.count("Two") >= 2
    assert first_of_two.content.startswith("Line 0 says") and first_of_two.char_start == text.index("Line 0 says")
    assert all("Sentence" not in d.content for d in drafts if d.heading == "Two")


def test_chinese_chapter_and_section_lines_in_plain_text_make_a_heading_path() -> None:
    text = (
        "第一章 概述\n\n本章介绍知识库。\n\n第一节 背景\n\n背景是客服问答。\n\n"
        "第二节 目标\n\n目标是准确检索。\n\n第二章 应用\n\n应用于企业内部。"
    )

    drafts = chunk_pages([Page(text, None)], markdown=False)

    assert [(d.heading, d.content) for d in drafts] == [
        ("第一章 概述", "本章介绍知识库。"),
        ("第一章 概述 > 第一节 背景", "背景是客服问答。"),
        ("第一章 概述 > 第二节 目标", "目标是准确检索。"),
        ("第二章 应用", "应用于企业内部。"),
    ]


def test_chinese_outline_numbering_nests_under_the_chapter() -> None:
    text = "第一章 总则\n\n一、目的\n\n（一）范围\n\n1. 适用对象\n\n全体员工。\n\n二、原则\n\n公平公开。"

    drafts = chunk_pages([Page(text, None)], markdown=False)

    assert [(d.heading, d.content) for d in drafts] == [
        ("第一章 总则 > 一、目的 > （一）范围 > 1. 适用对象", "全体员工。"),
        ("第一章 总则 > 二、原则", "公平公开。"),
    ]


def test_english_chapter_and_numbered_lines_in_plain_text_make_a_heading_path() -> None:
    text = (
        "Preface text before any heading.\n\nCHAPTER III\n\nThe third chapter.\n\n1. Introduction\n\nWhy it matters.\n\n"
        "1.2 Scope\n\nWhat is covered.\n\nChapter 4: Results\n\nWhat we found."
    )

    drafts = chunk_pages([Page(text, None)], markdown=False)

    assert [(d.heading, d.content) for d in drafts] == [
        ("", "Preface text before any heading."),
        ("CHAPTER III", "The third chapter."),
        ("CHAPTER III > 1. Introduction", "Why it matters."),
        ("CHAPTER III > 1. Introduction > 1.2 Scope", "What is covered."),
        ("Chapter 4: Results", "What we found."),
    ]


def test_lines_that_only_resemble_headings_stay_body_text() -> None:
    text = (
        "1. Buy milk\n\n2. Buy eggs\n\n3. Buy bread\n\n"  # a list, not three headings
        "第一章讲述了系统的由来。\n\n"  # ends like a sentence
        "1. Introduction\nfollowed directly by text on the next line\n\n"  # not set off by blank lines
        "Chapter 1 and the rest of this line make it far longer than any title would be\n\n"
        "Section 3 of the form.\n\n"
        "The 2 Musketeers"
    )

    drafts = chunk_pages([Page(text, None)], markdown=False)

    assert [(d.heading, d.content) for d in drafts] == [("", text)]


def test_setext_underlines_make_markdown_headings_but_a_rule_after_a_blank_line_does_not() -> None:
    text = "Guide\n=====\n\nIntro text.\n\nInstall\n-------\n\nRun it.\n\nSome text\n\n---\n\nAfter the rule."

    drafts = chunk_pages([Page(text, None)], markdown=True)

    assert [(d.heading, d.content) for d in drafts] == [
        ("Guide", "Intro text."),
        ("Guide > Install", "Run it.\n\nSome text\n\n---\n\nAfter the rule."),
    ]


def test_hash_lines_inside_code_fences_are_not_headings() -> None:
    text = "# Setup\n\n```bash\n# install the package\npip install luxx\n\n## not a heading\n```\n\n~~~\n# nor this\n~~~\n\n"
    text += "## Next\n\nDone."

    drafts = chunk_pages([Page(text, None)], markdown=True)

    assert [(d.heading, d.content) for d in drafts] == [
        ("Setup", "```bash\n# install the package\npip install luxx\n\n## not a heading\n```\n\n~~~\n# nor this\n~~~"),
        ("Setup > Next", "Done."),
    ]


def test_front_matter_does_not_underline_its_last_line_into_a_heading() -> None:
    text = "---\ntitle: Guide\n---\n\n# Real\n\nBody."

    drafts = chunk_pages([Page(text, None)], markdown=True)

    assert [(d.heading, d.content) for d in drafts] == [("", "---\ntitle: Guide\n---"), ("Real", "Body.")]


def test_a_sentence_running_over_a_page_break_stays_with_the_page_it_starts_on() -> None:
    pages = [
        Page("First sentence on page one. The second sentence runs over the", 1),
        Page("page break and ends here. Page two goes on.", 2),
    ]

    drafts = chunk_pages(pages, markdown=False)

    assert [(d.page, d.content) for d in drafts] == [
        (1, "First sentence on page one. The second sentence runs over the page break and ends here."),
        (2, "Page two goes on."),
    ]


def test_a_page_that_ends_a_sentence_starts_the_next_page_afresh() -> None:
    pages = [Page("Page one ends cleanly.", 1), Page("", 2), Page("capitalised or not, page three is new.", 3)]

    drafts = chunk_pages(pages, markdown=False)

    assert [(d.page, d.content) for d in drafts] == [(1, "Page one ends cleanly."), (3, "capitalised or not, page three is new.")]


def test_a_page_that_stops_mid_sentence_runs_on_into_a_capital_or_a_digit() -> None:
    pages = [
        Page("By the end of the survey the number of farms counted along the river was", 1),
        Page("42, and Sentence", 2),
        Page("Three begins the next page. Page three goes on.", 3),
    ]

    drafts = chunk_pages(pages, markdown=False)

    assert [(d.page, d.content) for d in drafts] == [
        (1, "By the end of the survey the number of farms counted along the river was 42, and Sentence Three begins the next page."),
        (3, "Page three goes on."),
    ]


def test_a_heading_at_the_foot_or_head_of_a_page_is_not_run_on() -> None:
    pages = [
        Page("The first part ends here, and\n\n2.3 Methods", 1),
        Page("the method is simple.\n\nChapter 3 Results", 2),
        Page("Results\n\nThe results are good.", 3),
    ]

    drafts = chunk_pages(pages, markdown=False)

    assert [(d.page, d.heading, d.content) for d in drafts] == [
        (1, "", "The first part ends here, and"),
        (2, "2.3 Methods", "the method is simple."),
        (3, "Chapter 3 Results", "Results\n\nThe results are good."),
    ]


def test_a_numbered_paragraph_left_open_at_a_page_break_still_runs_on() -> None:
    pages = [Page("Intro.\n\n1. The committee agreed that the budget for the coming year would", 1), Page("Grow by a third.", 2)]

    drafts = chunk_pages(pages, markdown=False)

    assert [(d.page, d.content) for d in drafts] == [
        (1, "Intro.\n\n1. The committee agreed that the budget for the coming year would Grow by a third.")
    ]


def test_the_overlap_does_not_reach_back_over_a_page_break() -> None:
    pages = [Page(english_text(4), 1), Page(english_text(5).replace("Sentence", "Line"), 2)]

    drafts = chunk_pages(pages, markdown=False)
    first_on_two = next(d for d in drafts if d.page == 2)

    assert sum(d.page == 1 for d in drafts) >= 2 and sum(d.page == 2 for d in drafts) >= 2
    assert first_on_two.content.startswith("Line 0 says")


def test_a_heading_path_carries_on_over_the_next_pdf_page() -> None:
    pages = [Page("Chapter 1 Rivers\n\nRivers carry silt.", 1), Page("Deltas form where they slow.\n\n1.1 Deltas\n\nSilt settles.", 2)]

    drafts = chunk_pages(pages, markdown=False)

    assert [(d.page, d.heading, d.content) for d in drafts] == [
        (1, "Chapter 1 Rivers", "Rivers carry silt."),
        (2, "Chapter 1 Rivers", "Deltas form where they slow."),
        (2, "Chapter 1 Rivers > 1.1 Deltas", "Silt settles."),
    ]


def test_wrapped_pdf_lines_are_joined_and_only_lower_case_words_are_dehyphenated() -> None:
    page = (
        "The committee met on a cold morning to review the annual report and the\n"
        "budget for the coming year, which had grown by a third since the last exam-\n"
        "ination of the accounts by the auditors, the COVID-\n"
        "19 task force and Jean-\n"
        "Paul Martin, who chaired the meeting.\n"
        "It ended early.\n"
        "1.2 Scope\n"
        "The scope covers every department, including the regional offices abroad.\n"
        "\n"
        "A blank line also ends a paragraph"
    )

    assert normalise_pdf_text(page) == (
        "The committee met on a cold morning to review the annual report and the budget for the coming year, which had grown "
        "by a third since the last examination of the accounts by the auditors, the COVID-19 task force and Jean-Paul Martin, "
        "who chaired the meeting.\n\n"
        "It ended early.\n\n"
        "1.2 Scope\n\n"
        "The scope covers every department, including the regional offices abroad.\n\n"
        "A blank line also ends a paragraph"
    )


def test_wrapped_chinese_pdf_lines_are_joined_without_spaces() -> None:
    page = (
        "自然语言处理是人工智能的重要方向，研究如何让计算机理解和生成人类的语\n"
        "言。它包括机器翻译、问答系统、信息检索和文本分类等许多不同的具体任\n"
        "务。\n"
        "第二段从这里开始，内容比较短。"
    )

    assert normalise_pdf_text(page) == (
        "自然语言处理是人工智能的重要方向，研究如何让计算机理解和生成人类的语言。它包括机器翻译、问答系统、信息检索和文本分类等许多不同的具体任务。"
        "\n\n第二段从这里开始，内容比较短。"
    )
