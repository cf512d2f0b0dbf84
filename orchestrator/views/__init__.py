"""Views that leave the terminal: an HTML page, a KCIDB document, a mail. Presentation only, except
`mail.send`, the one place that talks SMTP."""
