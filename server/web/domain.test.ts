import { describe, expect, it } from "vitest";
import {
  Email,
  FullName,
  hasUnsafeText,
  PlainText,
  Slug,
  UNSAFE_TEXT_MESSAGE,
  Username,
  visibleText,
} from "./domain";

/** Text that spoofs what an admin reads: "admin" shown for "nimda", invisible joins, fake lines. */
const SPOOFS = {
  "right-to-left override": "Max \u202Enimda\u202C",
  "left-to-right isolate": "Max \u2066admin\u2069",
  "arabic letter mark": "Max\u061C",
  "zero-width space": "ad\u200Bmin",
  "zero-width joiner": "ad\u200Dmin",
  "word joiner": "ad\u2060min",
  "BOM inside": "ad\uFEFFmin",
  "soft hyphen": "ad\u00ADmin",
  "tag characters": "admin\u{E0041}",
  "line separator": "Max\u2028Admin",
  "C1 control (CSI)": "Max\u009B31m",
  escape: "Max\u001B[31m",
  NUL: "Max\u0000",
  DEL: "Max\u007F",
  "private use": "Max\uE000",
};

describe("names and labels (issue 11 point 7)", () => {
  it("check 24: display names, labels, notes and reasons refuse bidi, zero-width and control characters", () => {
    for (const [what, text] of Object.entries(SPOOFS)) {
      expect(FullName.safeParse(text).success, what).toBe(false);
      expect(PlainText(80).safeParse(text).success, what).toBe(false);
      expect(PlainText(1000, { multiline: true }).safeParse(text).success, what).toBe(false);
      expect(Slug.safeParse(text).success, what).toBe(false);
    }
    const r = FullName.safeParse(SPOOFS["right-to-left override"]);
    expect(r.success ? null : r.error.issues[0]?.message).toBe(UNSAFE_TEXT_MESSAGE);
  });

  it("accepts ordinary names in any script, emoji, and line breaks where text is multi-line", () => {
    for (const name of ["Zoë Šťastná", "José María O'Neil-Smith", "محمد", "李小龙", "Ada 🚀", "שרה כהן"])
      expect(FullName.safeParse(name).success, name).toBe(true);
    expect(PlainText(80).safeParse("before the upgrade").success).toBe(true);
    expect(PlainText(1000, { multiline: true }).safeParse("line one\r\nline two\n\tindented").success).toBe(
      true,
    );
    expect(PlainText(80).safeParse("line one\nline two").success).toBe(false);
    expect(hasUnsafeText("plain")).toBe(false);
  });

  it("text stored before the rules is shown with visible markers, never reordered", () => {
    expect(visibleText("Max \u202Enimda\u202C")).toBe("Max ⟨U+202E⟩nimda⟨U+202C⟩");
    expect(visibleText("ad\u200Bmin")).toBe("ad⟨U+200B⟩min");
    expect(visibleText("a\nb\u0000", true)).toBe("a\nb⟨U+0000⟩");
    expect(visibleText("Zoë 🚀")).toBe("Zoë 🚀");
  });
});

describe("identity normalization (security.md check 9)", () => {
  const email = (s: string) => {
    const r = Email.safeParse(s);
    return r.success ? r.data : null;
  };

  it("check 9: one plain address only: lists, display names, quoted parts and line breaks are refused", () => {
    for (const attempt of [
      "a@x.com,b@org.com",
      "a@x.com;b@org.com",
      "a@x.com b@org.com",
      "a@x.com\nb@org.com",
      "Ada <ada@example.org>",
      '"ada"@example.org',
      "ada@example.org,",
      "ada@@example.org",
      "ada@localhost",
    ])
      expect(email(attempt), JSON.stringify(attempt)).toBeNull();
  });

  it("check 9: NFKC before validation: a full-width or small @ is the plain @, case is folded, look-alike letters are refused", () => {
    expect(email("Ada@Example.ORG")).toBe("ada@example.org");
    expect(email("ada\uFF20example.org")).toBe("ada@example.org"); // FULLWIDTH COMMERCIAL AT
    expect(email("ada\uFE6Bexample.org")).toBe("ada@example.org"); // SMALL COMMERCIAL AT
    expect(email("\uFF41\uFF44\uFF41@example.org")).toBe("ada@example.org"); // full-width letters
    expect(email("  ada@example.org ")).toBe("ada@example.org");
    // Cyrillic а (U+0430) looks like a but is another address: refused, never folded to a@…
    expect(email("\u0430da@example.org")).toBeNull();
    expect(email("ada@ex\u0430mple.org")).toBeNull();
    // The same for usernames: slugs only, so a look-alike cannot pose as another account.
    expect(Username.safeParse("\u0430dmin").success).toBe(false);
    expect(Username.safeParse("Admin").success).toBe(false);
  });
});
