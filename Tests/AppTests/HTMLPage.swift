import CLibXML2
import Foundation
import XCTest

/// A rendered portal page parsed by libxml2's HTML parser (as lenient as a browser's) and
/// queried by XPath: the page-structure checks that need no JavaScript run here instead of
/// in Chromium.
final class HTMLPage {
    fileprivate let doc: htmlDocPtr

    init(_ body: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let bytes = Array(body.utf8)
        let options = Int32(HTML_PARSE_NOERROR.rawValue | HTML_PARSE_NOWARNING.rawValue | HTML_PARSE_NONET.rawValue)
        let parsed = bytes.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                htmlReadMemory($0, Int32(buffer.count), nil, "UTF-8", options)
            }
        }
        doc = try XCTUnwrap(parsed, "the page does not parse as HTML", file: file, line: line)
    }

    deinit { xmlFreeDoc(doc) }

    /// Elements matching an XPath expression, from the document or from `node`.
    func all(_ xpath: String, from node: xmlNodePtr? = nil) throws -> [HTMLElement] {
        guard let context = xmlXPathNewContext(doc) else { throw HTMLPageError.xpath(xpath) }
        defer { xmlXPathFreeContext(context) }
        if let node { context.pointee.node = node }
        guard let result = xmlXPathEvalExpression(xpath, context) else { throw HTMLPageError.xpath(xpath) }
        defer { xmlXPathFreeObject(result) }
        guard let set = result.pointee.nodesetval, set.pointee.nodeNr > 0 else { return [] }
        return (0..<Int(set.pointee.nodeNr)).compactMap { i in
            guard let n = set.pointee.nodeTab[i], n.pointee.type == XML_ELEMENT_NODE else { return nil }
            return HTMLElement(page: self, node: n)
        }
    }

    /// The one element with this id.
    func id(_ id: String, file: StaticString = #filePath, line: UInt = #line) throws -> HTMLElement {
        let found = try all("//*[@id='\(id)']")
        XCTAssertEqual(found.count, 1, "elements with id \(id)", file: file, line: line)
        return try XCTUnwrap(found.first, "no element with id \(id)", file: file, line: line)
    }
}

enum HTMLPageError: Error { case xpath(String) }

/// One element of a parsed page (the page is kept alive with it).
struct HTMLElement {
    let page: HTMLPage
    let node: xmlNodePtr

    /// The element's text with runs of white space made one, as a browser shows it.
    var text: String {
        guard let content = xmlNodeGetContent(node) else { return "" }
        defer { xmlFree(content) }
        return String(cString: content).split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    /// An attribute's value; "" for one written without a value (`checked`); nil when absent.
    func attribute(_ name: String) -> String? {
        guard xmlHasProp(node, name) != nil else { return nil }
        guard let value = xmlGetProp(node, name) else { return "" }
        defer { xmlFree(value) }
        return String(cString: value)
    }

    var classes: Set<String> { Set((attribute("class") ?? "").split(separator: " ").map(String.init)) }

    /// Elements matching an XPath expression relative to this one (".//img").
    func all(_ xpath: String) throws -> [HTMLElement] { try page.all(xpath, from: node) }

    /// The element as HTML, for failure messages.
    var html: String {
        guard let buffer = xmlBufferCreate() else { return "" }
        defer { xmlBufferFree(buffer) }
        htmlNodeDump(buffer, page.doc, node)
        return String(cString: xmlBufferContent(buffer))
    }
}
