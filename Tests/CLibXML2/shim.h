// libxml2's HTML parser and XPath, for tests that read the portal's pages as a browser would.
#include <libxml/xmlversion.h>
// Its ICU declarations would clash with Foundation's own ICU module; nothing here uses them.
#undef LIBXML_ICU_ENABLED
#include <libxml/HTMLparser.h>
#include <libxml/HTMLtree.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
