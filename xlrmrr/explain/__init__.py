"""Reading a failure log: the RDM-related messages of xl, libxl, Xen and hvmloader, each tied to
the rule that printed it (component, source file, function, the releases that print it in that
form) and what it means for the guest.

Pure: `recognise(lines, source)` takes text lines (the CLI reads the files) and returns the
messages found; `owners(message, host)` adds the host's view of each range. Every
pattern is written from the message texts of Xen's source at each release tag (cited per rule
as file:function:releases); the formats changed over time (`Dom1` became `d1` with `%pd`,
`%04x:%02x:%02x.%u` became `%pp`, "(base,end]" became "[base,end]"), so one rule may carry
several forms, each with the releases that print it. The release ranges let a log say which
Xen printed it.

rules.py: every rule and its printed forms; messages.py: recognising them in a log;
releases.py: which releases print the forms and the libxl lines found; owners.py: the host's
RMRRs behind a message's addresses, and whether a re-plan predicts it.
"""
