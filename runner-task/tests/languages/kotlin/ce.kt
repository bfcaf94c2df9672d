fun main() {
    val x: Int = "no"
}
