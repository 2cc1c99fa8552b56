"""申请材料: applicants' documents (PDF, OFD, JPEG, PNG), recognised by content, kept in a local directory or an
S3-compatible store, read by their owner, administrators, and departments through signed task links."""
