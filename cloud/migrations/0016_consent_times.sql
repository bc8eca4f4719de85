-- Each consent with the time it was last given or withdrawn. A till's enrolment sets it to the
-- enrolment's time; head office's changes (and imports) get the time of the change from the
-- trigger, so no writer can forget it. NULL: recorded before this migration.
ALTER TABLE customer_pii
  ADD COLUMN consent_terms_at timestamptz,
  ADD COLUMN consent_marketing_email_at timestamptz,
  ADD COLUMN consent_marketing_sms_at timestamptz;

CREATE FUNCTION accrue_consent_times() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    NEW.consent_terms_at := coalesce(NEW.consent_terms_at, now());
    NEW.consent_marketing_email_at := coalesce(NEW.consent_marketing_email_at, now());
    NEW.consent_marketing_sms_at := coalesce(NEW.consent_marketing_sms_at, now());
    RETURN NEW;
  END IF;
  IF NEW.consent_terms IS DISTINCT FROM OLD.consent_terms
     AND NEW.consent_terms_at IS NOT DISTINCT FROM OLD.consent_terms_at THEN
    NEW.consent_terms_at := now();
  END IF;
  IF NEW.consent_marketing_email IS DISTINCT FROM OLD.consent_marketing_email
     AND NEW.consent_marketing_email_at IS NOT DISTINCT FROM OLD.consent_marketing_email_at THEN
    NEW.consent_marketing_email_at := now();
  END IF;
  IF NEW.consent_marketing_sms IS DISTINCT FROM OLD.consent_marketing_sms
     AND NEW.consent_marketing_sms_at IS NOT DISTINCT FROM OLD.consent_marketing_sms_at THEN
    NEW.consent_marketing_sms_at := now();
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER customer_pii_consent_times BEFORE INSERT OR UPDATE ON customer_pii
  FOR EACH ROW EXECUTE FUNCTION accrue_consent_times();
