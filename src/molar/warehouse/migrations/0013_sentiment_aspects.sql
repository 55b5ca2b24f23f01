-- What a complaint is about (attitude, waiting, price, pain, result, hygiene, booking; see
-- docs/sentiment.md), so service recovery can say what went wrong. NULL for other labels.
ALTER TABLE profile.text_sentiment ADD COLUMN IF NOT EXISTS aspects VARCHAR[];
